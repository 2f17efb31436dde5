"""A small router for `/api/v4` paths, the parsed request, and what handlers return."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from .errors import ApiError, bad_request
from .models import Token, User


@dataclass
class Request:
    method: str
    path: str  # raw, still percent-encoded, without the query
    query: dict[str, str]
    body: dict[str, Any]
    headers: dict[str, str]
    base_url: str  # scheme://host:port as the client addressed us
    user: User | None = None
    token: Token | None = None

    def param(self, name: str, default: Any = None) -> Any:
        """A parameter from the JSON/form body or the query string (GitLab accepts both)."""
        if name in self.body:
            return self.body[name]
        return self.query.get(name, default)

    def has(self, name: str) -> bool:
        return name in self.body or name in self.query

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.param(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("true", "1", "yes", "on")

    def int_param(self, name: str, default: int | None = None) -> int | None:
        value = self.param(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError(400, {"error": f"{name} is invalid"}) from None


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent as is (with headers' Content-Type) instead of JSON


@dataclass
class Paged:
    """A list result; the server paginates it (offset or keyset) and adds the headers.

    With `render`, `items` are records (with an `id` attribute) rendered only once sliced.
    """

    items: list[Any]
    render: Callable[[Any], dict[str, Any]] | None = None


Handler = Callable[..., "Response | Paged | dict[str, Any] | list[Any] | None"]


@dataclass
class Route:
    method: str
    parts: list[str]
    handler: Handler
    scope: str  # "read", "write", "user" (any valid token) or "none" (no token needed)
    locked: bool


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(self, method: str, pattern: str, scope: str | None = None, locked: bool = True) -> Callable[[Handler], Handler]:
        """Register a handler; `:name` matches one path segment, given to the handler decoded."""

        def register(fn: Handler) -> Handler:
            default = "read" if method in ("GET", "HEAD") else "write"
            self.routes.append(Route(method, pattern.strip("/").split("/"), fn, scope or default, locked))
            return fn

        return register

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        segments = raw_path.strip("/").split("/")
        found_path = False
        for route in self.routes:
            params = _match_parts(route.parts, segments)
            if params is None:
                continue
            found_path = True
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, params
        if found_path:
            raise ApiError(405, {"message": "405 Method Not Allowed"})
        return None


def _match_parts(parts: list[str], segments: list[str]) -> dict[str, str] | None:
    if len(parts) != len(segments):
        return None
    params: dict[str, str] = {}
    for part, seg in zip(parts, segments):
        if part.startswith(":"):
            if not seg:
                return None
            params[part[1:]] = unquote(seg)
        elif part != seg:
            return None
    return params


def parse_query(raw: str) -> dict[str, str]:
    return dict(parse_qsl(raw, keep_blank_values=True))


def parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    if "json" in content_type:
        try:
            data = json.loads(raw)
        except ValueError:
            raise bad_request("400 (Bad request) body is not valid JSON") from None
        return data if isinstance(data, dict) else {}
    if "x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(raw.decode(), keep_blank_values=True))
    return {}


_SAFE = re.compile(r"[^A-Za-z0-9_.~-]")


def encode_path(path: str) -> str:
    """Percent-encode a full path the way clients must (`a/b` -> `a%2Fb`)."""
    return _SAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), path)


ROUTER = Router()
"""Every `/api/v4` route; the `api_*` modules register on it when imported."""
