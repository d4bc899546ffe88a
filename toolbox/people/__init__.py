"""People and credentials: users, login sessions, API tokens, Feishu login and the audit log."""
