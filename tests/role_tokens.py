"""Operators and viewers for the jobs, tools and rate-limit tests, with real API tokens.

The ``role_tokens`` fixture creates real users (as a Feishu login would) with the given
roles and a personal API token each, through the same stores the API uses; it returns
``{OPERATOR: token, OPERATOR_2: token, VIEWER: token}``.
"""

import pytest

from toolbox.people.feishu import FeishuProfile

OPERATOR, OPERATOR_2, VIEWER = "olga", "oscar", "vera"
ROLES = {OPERATOR: "operator", OPERATOR_2: "operator", VIEWER: "viewer"}


@pytest.fixture
def role_tokens(app, io_loop):
    """A real user and API token per name in ROLES → {name: bearer token}."""
    async def create():
        tokens = {}
        for name, role in ROLES.items():
            profile = FeishuProfile(union_id=f"on_{name}", open_id=f"ou_{name}", tenant_key="t1",
                                    name=name, email=f"{name}@example.com")
            user, _ = await app.toolbox.users.upsert_feishu(profile)
            await app.toolbox.users.update(user["_id"], role=role)
            _, tokens[name] = await app.toolbox.tokens.create(user["_id"], "tests")
        return tokens

    return io_loop.run_sync(create)
