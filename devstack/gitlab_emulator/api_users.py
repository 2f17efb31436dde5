"""Users and the caller's own token: `/users`, `/user`, `/personal_access_tokens/self`."""

from __future__ import annotations

from typing import Any

from .app import App
from .errors import conflict, forbidden, missing, unauthorized
from .routing import ROUTER, Paged, Request, Response


@ROUTER.route("GET", "/user", scope="read_user")
def current_user(app: App, req: Request) -> dict[str, Any]:
    if req.user is None:
        raise unauthorized()
    return app.user_json(req.user, full=True)


@ROUTER.route("GET", "/personal_access_tokens/self", scope="any")
def token_self(app: App, req: Request) -> dict[str, Any]:
    token = req.token
    if token is None:
        raise unauthorized()
    return {
        "id": token.id,
        "name": token.name,
        "revoked": token.revoked,
        "created_at": token.created_at,
        "description": None,
        "scopes": token.scopes,
        "user_id": token.user_id,
        "last_used_at": None,
        "active": token.active,
        "expires_at": token.expires_at,
    }


@ROUTER.route("GET", "/users")
def list_users(app: App, req: Request) -> Paged:
    users = sorted(app.state.users.values(), key=lambda u: u.id)
    if "username" in req.query:
        wanted = req.query["username"].lower()
        users = [u for u in users if u.username.lower() == wanted]
    elif req.query.get("search"):
        needle = req.query["search"].lower()
        users = [u for u in users if needle in u.username.lower() or needle in u.name.lower() or needle == u.email.lower()]
    full = req.user is not None and req.user.is_admin
    return Paged([app.user_json(u, full=full) for u in users])


@ROUTER.route("GET", "/users/:user_id")
def get_user(app: App, req: Request, user_id: str) -> dict[str, Any]:
    user = app.state.get_user(int(user_id)) if user_id.isdigit() else app.find_user(user_id)
    full = req.user is not None and (req.user.is_admin or req.user.id == user.id)
    return app.user_json(user, full=full)


@ROUTER.route("POST", "/users")
def create_user(app: App, req: Request) -> Response:
    if req.user is None or not req.user.is_admin:
        raise forbidden()
    for field in ("username", "name", "email"):
        if not req.param(field):
            raise missing(field)
    username = str(req.param("username"))
    if app.state.user_by_username(username) is not None:
        raise conflict("Username has already been taken")
    user = app.state.add_user(username, str(req.param("name")), str(req.param("email")), req.flag("admin"))
    return Response(201, app.user_json(user, full=True))


@ROUTER.route("POST", "/users/:user_id/personal_access_tokens")
def create_user_token(app: App, req: Request, user_id: str) -> Response:
    """Admin only, as in GitLab: a token for another user (the sandbox's developer)."""
    if req.user is None or not req.user.is_admin:
        raise forbidden()
    user = app.state.get_user(int(user_id)) if user_id.isdigit() else app.find_user(user_id)
    for field in ("name", "scopes"):
        if not req.param(field):
            raise missing(field)
    scopes = req.param("scopes")
    scopes = scopes if isinstance(scopes, list) else [s for s in str(scopes).split(",") if s]
    token = app.state.add_token(user, scopes, str(req.param("name")), req.param("expires_at"))
    app.save()
    return Response(201, {"id": token.id, "name": token.name, "revoked": False, "created_at": token.created_at,
                          "scopes": token.scopes, "user_id": user.id, "active": True,
                          "expires_at": token.expires_at, "token": token.token})
