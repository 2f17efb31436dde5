"""GitLab's offset and keyset pagination: page slices plus x-* and Link headers."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from .errors import ApiError
from .routing import Request

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


def _per_page(req: Request) -> int:
    try:
        value = int(req.query.get("per_page", DEFAULT_PER_PAGE))
    except ValueError:
        value = DEFAULT_PER_PAGE
    if value < 1:
        return DEFAULT_PER_PAGE
    return min(value, MAX_PER_PAGE)


def _url(req: Request, **changes: Any) -> str:
    query = dict(req.query)
    query.update({k: str(v) for k, v in changes.items()})
    return f"{req.base_url}{req.path}?{urlencode(query)}"


def _id(item: Any) -> Any:
    return item["id"] if isinstance(item, dict) else getattr(item, "id", None)


def paginate(req: Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """Return the requested slice of `items` and the headers GitLab sends with it."""
    if req.query.get("pagination") == "keyset":
        return _keyset(req, items)
    per_page = _per_page(req)
    try:
        page = max(1, int(req.query.get("page", 1)))
    except ValueError:
        page = 1
    total = len(items)
    total_pages = max(1, math.ceil(total / per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    links = []
    if page > 1:
        links.append(f'<{_url(req, page=page - 1, per_page=per_page)}>; rel="prev"')
    if page < total_pages:
        links.append(f'<{_url(req, page=page + 1, per_page=per_page)}>; rel="next"')
    links.append(f'<{_url(req, page=1, per_page=per_page)}>; rel="first"')
    links.append(f'<{_url(req, page=total_pages, per_page=per_page)}>; rel="last"')
    headers = {
        "X-Page": str(page),
        "X-Per-Page": str(per_page),
        "X-Next-Page": str(page + 1) if page < total_pages else "",
        "X-Prev-Page": str(page - 1) if page > 1 else "",
        "X-Total": str(total),
        "X-Total-Pages": str(total_pages),
        "Link": ", ".join(links),
    }
    return chunk, headers


def _keyset(req: Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
    if req.query.get("order_by", "id") != "id" or any(_id(i) is None for i in items):
        raise ApiError(405, {"message": "405 Method Not Allowed"})
    descending = req.query.get("sort", "asc") == "desc"
    ordered = sorted(items, key=_id, reverse=descending)
    cursor_key = "id_before" if descending else "id_after"
    if cursor_key in req.query:
        cursor = int(req.query[cursor_key])
        ordered = [i for i in ordered if (_id(i) < cursor if descending else _id(i) > cursor)]
    per_page = _per_page(req)
    chunk = ordered[:per_page]
    headers = {"X-Per-Page": str(per_page)}
    if len(ordered) > per_page:
        query = {k: v for k, v in req.query.items() if k not in ("id_after", "id_before", "page")}
        query[cursor_key] = str(_id(chunk[-1]))
        headers["Link"] = f'<{req.base_url}{req.path}?{urlencode(query)}>; rel="next"'
    return chunk, headers
