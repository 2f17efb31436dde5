"""Project CI/CD variables: the key rule, masking rules, hidden values, environment scopes."""

from __future__ import annotations

import re
from typing import Any

from .app import App
from .errors import ApiError, bad_request, conflict, not_found
from .models import MAINTAINER, Project, Variable
from .routing import ROUTER, Paged, Request, Response

KEY_RE = re.compile(r"^[A-Za-z0-9_]{1,255}$")
LEGACY_MASK_RE = re.compile(r"^[a-zA-Z0-9_+=/@:.~-]{8,}$")
MODERN_MASK_RE = re.compile(r"^\S{8,}$")
TYPES = ("env_var", "file")
MULTIPLE = "There are multiple variables with provided parameters. Please use 'filter[environment_scope]'"


def variable_json(var: Variable) -> dict[str, Any]:
    return {
        "key": var.key,
        "value": None if var.hidden else var.value,
        "variable_type": var.variable_type,
        "protected": var.protected,
        "masked": var.masked,
        "hidden": var.hidden,
        "raw": var.raw,
        "environment_scope": var.environment_scope,
        "description": var.description,
    }


def maskable(app: App, value: str) -> bool:
    rule = LEGACY_MASK_RE if app.settings.legacy_masking else MODERN_MASK_RE
    return bool(rule.match(value)) and "\n" not in value


def _scope_filter(req: Request) -> str | None:
    return req.query.get("filter[environment_scope]") or (req.body.get("filter") or {}).get("environment_scope")


def _find(project: Project, req: Request, key: str) -> Variable:
    scope = _scope_filter(req)
    found = [v for v in project.variables if v.key == key and (scope is None or v.environment_scope == scope)]
    if not found:
        raise not_found("Variable")
    if len(found) > 1:
        raise conflict(MULTIPLE)
    return found[0]


def _check_type(req: Request) -> None:
    if req.has("variable_type") and req.param("variable_type") not in TYPES:
        raise ApiError(400, {"error": "variable_type does not have a valid value"})


@ROUTER.route("GET", "/projects/:id/variables")
def list_variables(app: App, req: Request, id: str) -> Paged:
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER, write=False)
    return Paged([variable_json(v) for v in project.variables])


@ROUTER.route("GET", "/projects/:id/variables/:key")
def get_variable(app: App, req: Request, id: str, key: str) -> dict[str, Any]:
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER, write=False)
    return variable_json(_find(project, req, key))


@ROUTER.route("POST", "/projects/:id/variables")
def create_variable(app: App, req: Request, id: str) -> Response:
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER)
    for field in ("key", "value"):
        if not req.has(field):
            raise ApiError(400, {"error": f"{field} is missing"})
    _check_type(req)
    key, value = str(req.param("key")), str(req.param("value"))
    hidden = req.flag("masked_and_hidden")
    masked = hidden or req.flag("masked")
    scope = str(req.param("environment_scope") or "*")
    errors: dict[str, list[str]] = {}
    if not KEY_RE.match(key):
        errors["key"] = ["can contain only letters, digits and '_'."]
    elif any(v.key == key and v.environment_scope == scope for v in project.variables):
        errors["key"] = [f"({key}) has already been taken"]
    if masked and not maskable(app, value):
        errors["value"] = ["is invalid"]
    if errors:
        raise bad_request(errors)
    var = Variable(
        key=key,
        value=value,
        variable_type=str(req.param("variable_type") or "env_var"),
        protected=req.flag("protected"),
        masked=masked,
        hidden=hidden,
        raw=req.flag("raw"),
        environment_scope=scope,
        description=req.param("description"),
    )
    project.variables.append(var)
    app.save()
    return Response(201, variable_json(var))


@ROUTER.route("PUT", "/projects/:id/variables/:key")
def update_variable(app: App, req: Request, id: str, key: str) -> dict[str, Any]:
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER)
    var = _find(project, req, key)
    _check_type(req)
    value = str(req.param("value")) if req.has("value") else var.value
    masked = req.flag("masked") if req.has("masked") else var.masked
    if var.hidden and not masked:
        raise bad_request({"masked": ["must be true for a hidden variable"]})
    if masked and not maskable(app, value):
        raise bad_request({"value": ["is invalid"]})
    scope = str(req.param("environment_scope") or var.environment_scope)
    if scope != var.environment_scope and any(v.key == key and v.environment_scope == scope for v in project.variables):
        raise bad_request({"key": [f"({key}) has already been taken"]})
    var.value, var.masked, var.environment_scope = value, masked, scope
    for field in ("protected", "raw"):
        if req.has(field):
            setattr(var, field, req.flag(field))
    if req.has("variable_type"):
        var.variable_type = str(req.param("variable_type"))
    if req.has("description"):
        var.description = req.param("description")
    app.save()
    return variable_json(var)


@ROUTER.route("DELETE", "/projects/:id/variables/:key")
def delete_variable(app: App, req: Request, id: str, key: str) -> Response:
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER)
    project.variables.remove(_find(project, req, key))
    app.save()
    return Response(204)
