"""TEST DOUBLE of the authentication layer, used only by the jobs/tools/rate-limit tests.

Real users, sessions and API tokens come from the people workstream; until then these
tests need operators and viewers.  The ``role_tokens`` fixture wraps
``APIHandler.authenticate`` so that the fixed bearer tokens below map to principals;
every other request authenticates as the real code says (the admin token keeps working).
"""

import pytest

from handlers.base import APIHandler, Principal, bearer_token

OPERATOR, OPERATOR_2, VIEWER = "op-token", "op2-token", "viewer-token"

PRINCIPALS = {
    OPERATOR: Principal("olga", "operator", user_id="u-op"),
    OPERATOR_2: Principal("oscar", "operator", user_id="u-op2"),
    VIEWER: Principal("vera", "viewer", user_id="u-viewer"),
}


@pytest.fixture
def role_tokens(monkeypatch):
    """Make ``op-token``, ``op2-token`` and ``viewer-token`` valid bearer tokens."""
    real_authenticate = APIHandler.authenticate

    async def authenticate(self):
        principal = PRINCIPALS.get(bearer_token(self.request))
        if principal is not None:
            return principal
        return await real_authenticate(self)

    monkeypatch.setattr(APIHandler, "authenticate", authenticate)
    return PRINCIPALS
