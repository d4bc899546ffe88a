"""Personal API tokens: ``/api/tokens`` (any logged-in user, their own tokens).

- ``GET /api/tokens`` → ``{items: [{id, name, created_at, expires_at, last_used_at}]}``.
- ``POST /api/tokens`` ``{name, expires_in_days?: 1..3650}`` → 201 with ``token`` (shown once).
  Only a logged-in person creates tokens: not the admin token, not another API token.
- ``DELETE /api/tokens/{id}`` revokes one of your tokens (admins: anyone's).
"""

from .base import APIHandler, require_role
from toolbox import clock, validation
from toolbox.people.api_tokens import token_request
from toolbox.presenters import token_model
from toolbox.errors import Forbidden, NotFound

TOKEN_ID = r"(?P<token_id>[A-Za-z0-9_-]{1,64})"


class TokensHandler(APIHandler):
    def owner(self) -> str:
        if self.current_user.user_id is None:
            raise Forbidden("API tokens belong to people: log in to manage them")
        return self.current_user.user_id

    @require_role("viewer")
    async def get(self) -> None:
        """Your tokens."""
        docs = await self.toolbox.tokens.list(self.owner())
        self.write_json({"items": [token_model(doc) for doc in docs]})

    @require_role("viewer")
    async def post(self) -> None:
        """Create a token for yourself; the answer holds it, this once."""
        owner = self.owner()
        if self.current_user.via != "session":
            raise Forbidden("create API tokens from a logged-in session, not with another token")
        body = self.json_body()
        validation.check_fields(body, ("name", "expires_in_days"), required=("name",))
        request = token_request(body["name"], body.get("expires_in_days"))
        doc, token = await self.toolbox.tokens.create(owner, request)
        await self.audit("token.create", doc["_id"], name=doc["name"],
                         expires_at=clock.isoformat(doc["expires_at"]))
        self.write_json(dict(token_model(doc), token=token), status=201)


class TokenHandler(APIHandler):
    @require_role("viewer")
    async def delete(self, token_id: str) -> None:
        """Revoke a token: it stops working at once."""
        doc = await self.toolbox.tokens.get(token_id)
        user = self.current_user
        if doc["user_id"] != user.user_id and user.role != "admin":
            raise NotFound(f"token not found: {token_id}")
        await self.toolbox.tokens.revoke(token_id)
        await self.audit("token.revoke", token_id, name=doc["name"], owner=doc["user_id"])
        self.write_json({"status": True, "id": token_id})


default_handlers = [
    (r"/api/tokens", TokensHandler),
    (rf"/api/tokens/{TOKEN_ID}", TokenHandler),
]
