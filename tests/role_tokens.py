"""The operators and viewer of the ``role_tokens`` fixture (tests/conftest.py), by name.

``role_tokens`` creates real users (as a Feishu login would) with these roles and a
personal API token each, through the same stores the API uses; it returns
``{OPERATOR: token, OPERATOR_2: token, VIEWER: token}``.
"""

OPERATOR, OPERATOR_2, VIEWER = "olga", "oscar", "vera"
ROLES = {OPERATOR: "operator", OPERATOR_2: "operator", VIEWER: "viewer"}
