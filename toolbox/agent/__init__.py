"""``toolbox-agent``, the reference agent: the wire client and how it runs commands."""
