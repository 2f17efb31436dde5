"""Deploy keys: list, get, add (reusing a key already known by content), update, enable, remove."""

from __future__ import annotations

import subprocess
import tempfile
from typing import Any

from .app import App
from .errors import ApiError, bad_request, not_found
from .models import MAINTAINER, DeployKey, Project
from .routing import ROUTER, Paged, Request, Response


def fingerprints(key: str) -> tuple[str, str] | None:
    """(md5 hex with colons, SHA256:base64) of an OpenSSH public key, or None if it is not one."""
    with tempfile.NamedTemporaryFile("w", suffix=".pub") as f:
        f.write(key + "\n")
        f.flush()
        out = []
        for digest in ("md5", "sha256"):
            proc = subprocess.run(["ssh-keygen", "-l", "-E", digest, "-f", f.name], capture_output=True, text=True)
            if proc.returncode != 0:
                return None
            out.append(proc.stdout.split()[1])
    return out[0].removeprefix("MD5:"), out[1]


def sanitize(key: str) -> str:
    """The key as GitLab stores it: one line, single spaces, comment kept."""
    return " ".join(key.split())


def key_json(key: DeployKey, can_push: bool | None = None) -> dict[str, Any]:
    data = {
        "id": key.id,
        "title": key.title,
        "key": key.key,
        "fingerprint": key.fingerprint,
        "fingerprint_sha256": key.fingerprint_sha256,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "usage_type": "auth",
    }
    if can_push is not None:
        data["can_push"] = can_push
    return data


def _linked(project: Project, key_id: str) -> int:
    kid = int(key_id) if key_id.isdigit() else -1
    if kid not in project.deploy_keys:
        raise not_found("Deploy Key")
    return kid


@ROUTER.route("GET", "/projects/:id/deploy_keys")
def list_keys(app: App, req: Request, id: str) -> Paged:
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER, write=False)
    return Paged([key_json(app.state.deploy_keys[k], push) for k, push in sorted(project.deploy_keys.items())])


@ROUTER.route("GET", "/projects/:id/deploy_keys/:key_id")
def get_key(app: App, req: Request, id: str, key_id: str) -> dict[str, Any]:
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER, write=False)
    kid = _linked(project, key_id)
    return key_json(app.state.deploy_keys[kid], project.deploy_keys[kid])


@ROUTER.route("POST", "/projects/:id/deploy_keys")
def add_key(app: App, req: Request, id: str) -> Response:
    st = app.state
    project = app.find_project(req, id)
    for field in ("key", "title"):
        if not req.has(field):
            raise ApiError(400, {"error": f"{field} is missing"})
    app.require(req, project, MAINTAINER)
    text = sanitize(str(req.param("key")))
    can_push = req.flag("can_push")
    # GitLab reuses a key only when the stored text is identical (comment included).
    existing = next((k for k in st.deploy_keys.values() if k.key == text), None)
    if existing is not None:
        if existing.id not in project.deploy_keys:
            project.deploy_keys[existing.id] = can_push
            app.save()
            app.keys_changed()
        return Response(201, key_json(existing, project.deploy_keys[existing.id]))
    prints = fingerprints(text)
    if prints is None:
        raise bad_request({"key": ["is invalid"], "fingerprint_sha256": ["cannot be generated"]})
    if any(k.fingerprint_sha256 == prints[1] for k in st.deploy_keys.values()):
        raise bad_request({"fingerprint_sha256": ["has already been taken"]})
    title = str(req.param("title"))
    if not title:
        raise bad_request({"title": ["can't be blank"]})
    key = DeployKey(st.next_id("key"), title, text, prints[0], prints[1], expires_at=req.param("expires_at"))
    st.deploy_keys[key.id] = key
    project.deploy_keys[key.id] = can_push
    app.save()
    app.keys_changed()
    return Response(201, key_json(key, can_push))


@ROUTER.route("PUT", "/projects/:id/deploy_keys/:key_id")
def update_key(app: App, req: Request, id: str, key_id: str) -> dict[str, Any]:
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER)
    kid = _linked(project, key_id)
    key = app.state.deploy_keys[kid]
    if req.has("title"):
        key.title = str(req.param("title"))
    if req.has("can_push"):
        project.deploy_keys[kid] = req.flag("can_push")
    app.save()
    app.keys_changed()
    return key_json(key, project.deploy_keys[kid])


@ROUTER.route("POST", "/projects/:id/deploy_keys/:key_id/enable")
def enable_key(app: App, req: Request, id: str, key_id: str) -> Response:
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER)
    key = app.state.deploy_keys.get(int(key_id) if key_id.isdigit() else -1)
    if key is None:
        raise not_found("Deploy Key")
    project.deploy_keys.setdefault(key.id, False)
    app.save()
    app.keys_changed()
    return Response(201, key_json(key))


@ROUTER.route("DELETE", "/projects/:id/deploy_keys/:key_id")
def delete_key(app: App, req: Request, id: str, key_id: str) -> Response:
    st = app.state
    project = app.find_project(req, id)
    app.require(req, project, MAINTAINER)
    kid = _linked(project, key_id)
    del project.deploy_keys[kid]
    if not any(kid in p.deploy_keys for p in st.projects.values()):
        del st.deploy_keys[kid]
    app.save()
    app.keys_changed()
    return Response(204)
