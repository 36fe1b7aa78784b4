"""__NAME__: a Nexus app (strawberry, served by an ASGI server). It adds `User.__NS__Note`,
`Organization.__NS__Settings` and `Query.__NS__Hello` to the Nexus graph by the core's `id` only
(every type starts with `__PREFIX__`, every field on a core type with `__NS__`). Every call from
the router carries a context token, verified with the Nexus SDK; webhooks are verified the same
way. Run: `python3 app.py` (or `uvicorn app:app --port __PORT__`)."""

import base64
import hashlib
import json
import os
import secrets
from urllib.parse import urlencode

import requests
import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.types import Info

from nexus_app import ContextVerifier, Rejected, Webhook, WebhookRejected

NAMESPACE = "__NS__"


class Config:
    def __init__(self):
        self.port = int(os.environ.get("PORT") or __PORT__)
        self.platform = (os.environ.get("NEXUS_URL") or "http://127.0.0.1:4000").rstrip("/")
        self.webhook_secrets = [s for s in (os.environ.get("NEXUS_WEBHOOK_SECRETS") or "").split(",") if s]
        self.client_id = os.environ.get("NEXUS_CLIENT_ID") or None


NOTES: dict[tuple[str, str], str] = {}


@strawberry.federation.type(keys=["id"])
class User:
    id: strawberry.ID

    @strawberry.field(name="__NS__Note", description="A note about this user, kept per organization.")
    def note(self, info: Info) -> str | None:
        claims = info.context["claims"]
        return NOTES.get((claims.org or "", str(self.id)))

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> "User":
        return User(id=id)


@strawberry.type(name="__PREFIX__Settings")
class Settings:
    viewer_role: str | None
    granted_scopes: list[str]


@strawberry.federation.type(keys=["id"])
class Organization:
    id: strawberry.ID

    @strawberry.field(name="__NS__Settings")
    def settings(self, info: Info) -> Settings | None:
        claims = info.context["claims"]
        # Only the organization the call acts in.
        if claims.org != str(self.id):
            return None
        return Settings(viewer_role=claims.role, granted_scopes=claims.scopes)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> "Organization":
        return Organization(id=id)


@strawberry.type
class Query:
    @strawberry.field(name="__NS__Hello", description="Says hello to the caller.")
    def hello(self, info: Info) -> str:
        return f"Hello from __NAME__, {info.context['claims'].sub}"


@strawberry.type
class Mutation:
    @strawberry.mutation(name="__NS__SetNote")
    def set_note(self, info: Info, user_id: strawberry.ID, text: str) -> str | None:
        claims = info.context["claims"]
        if not claims.org:
            return None
        NOTES[(claims.org, str(user_id))] = text
        return text


schema = strawberry.federation.Schema(
    query=Query, mutation=Mutation, types=[User, Organization]
)


class Subgraph(GraphQL):
    """The subgraph: the platform fetches the SDL without a token; everything else needs one."""

    def __init__(self, config: Config):
        super().__init__(schema, graphql_ide=None)
        self.verifier = ContextVerifier(config.platform, NAMESPACE)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        try:
            query = json.loads(body or b"{}").get("query") or ""
        except ValueError:
            query = ""
        claims = None
        if not ("_service" in query and "_entities" not in query):
            try:
                claims = self.verifier.verify(request.headers.get("authorization", ""))
            except Rejected as refused:
                return PlainTextResponse(f"context token refused: {refused.code}", status_code=401)
        return await self.run(request, context={"request": request, "claims": claims})


def create_app(config: Config | None = None) -> Starlette:
    config = config or Config()
    subgraph = Subgraph(config)
    received: list[tuple[str, dict]] = []
    pending: dict[str, str] = {}
    redirect_uri = f"http://127.0.0.1:{config.port}/sign-in/callback"

    async def webhooks(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse([event for _, event in received])
        body = (await request.body()).decode()
        jwks = None
        if "v1a," in request.headers.get("webhook-signature", ""):
            jwks = requests.get(f"{config.platform}/.well-known/jwks.json", timeout=10).json()
        try:
            Webhook(config.webhook_secrets, jwks).verify(dict(request.headers), body)
        except WebhookRejected as refused:
            return PlainTextResponse(refused.code, status_code=401)
        event = json.loads(body)
        delivery = request.headers.get("webhook-id", "")
        if all(seen != delivery for seen, _ in received):
            print(f"webhook {event.get('type')}: {event.get('data')}", flush=True)
            received.append((delivery, event))
        return Response(status_code=204)

    async def sign_in(request: Request) -> Response:
        if not config.client_id:
            return PlainTextResponse("set NEXUS_CLIENT_ID to sign in with Nexus", status_code=404)
        state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        pending[state] = verifier
        query = urlencode({
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid profile email",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        })
        return RedirectResponse(f"{config.platform}/oauth/authorize?{query}", status_code=303)

    async def callback(request: Request) -> Response:
        verifier = pending.pop(request.query_params.get("state", ""), None)
        code = request.query_params.get("code")
        if not (code and verifier and config.client_id):
            return PlainTextResponse("no sign-in under way", status_code=400)
        token = requests.post(f"{config.platform}/oauth/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": config.client_id, "code_verifier": verifier,
        }, timeout=10).json()
        if "access_token" not in token:
            return PlainTextResponse(f"sign-in refused: {token}", status_code=401)
        profile = requests.get(f"{config.platform}/oauth/userinfo",
                               headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10).json()
        return PlainTextResponse(f"Signed in as {profile.get('email', '?')}")

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[
        Route("/graphql", subgraph.handle, methods=["POST"]),
        Route("/health", health),
        Route("/webhooks", webhooks, methods=["GET", "POST"]),
        Route("/sign-in", sign_in),
        Route("/sign-in/callback", callback),
    ])


app = create_app()

if __name__ == "__main__":
    import uvicorn

    config = Config()
    print(f"__NAME__ listening on http://127.0.0.1:{config.port}/graphql", flush=True)
    uvicorn.run(create_app(config), host="127.0.0.1", port=config.port, log_level="warning")
