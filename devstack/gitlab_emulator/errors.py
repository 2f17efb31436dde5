"""GitLab's error responses, with the exact status codes and body shapes of REST v4."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Raised by a handler; the server turns it into `status` with the JSON `body`."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {body!r}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def not_found(what: str = "") -> ApiError:
    """404 `{"message":"404 Project Not Found"}`; bare `404 Not found` without a name."""
    return ApiError(404, {"message": f"404 {what} Not Found" if what else "404 Not found"})


def route_not_found() -> ApiError:
    return ApiError(404, {"error": "404 Not Found"})


def missing(field: str) -> ApiError:
    return ApiError(400, {"message": f'400 (Bad request) "{field}" not given'})


def param_missing(field: str) -> ApiError:
    """Grape's own validation of a required query/body parameter."""
    return ApiError(400, {"error": f"{field} is missing"})


def bad_request(message: Any) -> ApiError:
    """400 with a string message or a `{field: [messages]}` dict, as GitLab renders both."""
    return ApiError(400, {"message": message})


def validation(field: str, *messages: str) -> ApiError:
    return ApiError(400, {"message": {field: list(messages)}})


def unauthorized() -> ApiError:
    return ApiError(401, {"message": "401 Unauthorized"})


def forbidden(message: str = "403 Forbidden") -> ApiError:
    return ApiError(403, {"message": message})


def insufficient_scope(scopes: str = "api") -> ApiError:
    return ApiError(
        403,
        {
            "error": "insufficient_scope",
            "error_description": "The request requires higher privileges than provided by the access token.",
            "scope": scopes,
        },
    )


def conflict(message: str) -> ApiError:
    return ApiError(409, {"message": message})


def unprocessable(message: Any) -> ApiError:
    return ApiError(422, {"message": message})
