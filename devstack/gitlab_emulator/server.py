"""The threaded HTTP server: reads requests, applies faults, counts calls, dispatches API and git."""

from __future__ import annotations

import email.utils
import json
import socket
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from . import (  # noqa: F401  (routes)  # noqa: F401
    api_branches,
    api_ci,
    api_deploy_keys,
    api_files,
    api_groups,
    api_internal,
    api_members,
    api_projects,
    api_protected,
    api_protected_tags,
    api_users,
    api_variables,
    git_http,
)
from .errors import ApiError, insufficient_scope, route_not_found, unauthorized
from .faults import Call, Fault
from .models import READ_SCOPES
from .pagination import paginate
from .routing import ROUTER, Paged, Request, Response, parse_body, parse_query

if TYPE_CHECKING:
    from .emulator import GitLabEmulator

API_PREFIX = "/api/v4"
SCOPES = {
    "read": READ_SCOPES,
    "write": {"api"},
    "read_user": READ_SCOPES | {"read_user"},
}


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: GitLabEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: EmulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.emulator.verbose:
            sys.stderr.write("gitlab-emulator: " + format % args + "\n")

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        emu = self.server.emulator
        raw_path, _, query = self.path.partition("?")
        body = self._read_body()
        internal = raw_path.startswith(API_PREFIX + "/internal/")
        kind = "api" if raw_path.startswith(API_PREFIX + "/") else "git"
        fault = None if internal else emu.faults.take(self.command, raw_path)
        if fault is not None and fault.kind == "drop":
            emu.calls.record(Call(self.command, raw_path, 0, kind))
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.delay)
            fault = None
        if fault is not None:
            status, headers, payload = self._fault_response(fault)
        elif internal:
            status, headers, payload = api_internal.handle(emu.app, raw_path, self.headers, body)
        elif kind == "api":
            status, headers, payload = self._api(raw_path, query, body)
        else:
            status, headers, payload = git_http.handle(emu, self.command, raw_path, query, self.headers, body)
        if not internal:
            emu.calls.record(Call(self.command, raw_path, status, kind))
        self._send(status, headers, payload)

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        try:
            self.send_response(status)
            headers.setdefault("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _fault_response(self, fault: Fault) -> tuple[int, dict[str, str], bytes]:
        if fault.kind == "rate_limit":
            reset = int(time.time()) + fault.retry_after
            headers = {
                "Content-Type": "text/plain",
                "Retry-After": str(fault.retry_after),
                "RateLimit-Limit": "600",
                "RateLimit-Observed": "601",
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(reset),
                "RateLimit-ResetTime": email.utils.formatdate(reset, usegmt=True),
            }
            return 429, headers, b"Retry later\n"
        messages = {500: "500 Internal Server Error", 502: "502 Bad Gateway", 503: "503 Service Unavailable", 504: "504 Gateway Timeout"}
        return fault.status, {}, json.dumps({"message": messages.get(fault.status, f"{fault.status} Error")}).encode()

    def _api(self, raw_path: str, query: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        emu = self.server.emulator
        app = emu.app
        req = Request(
            method=self.command,
            path=raw_path,
            query=parse_query(query),
            body={},
            headers={k.lower(): v for k, v in self.headers.items()},
            base_url=f"http://{self.headers.get('Host') or emu.host_port}",
        )
        try:
            req.body = parse_body(self.headers.get("Content-Type", ""), body)
            self._authenticate(req)
            found = ROUTER.match(self.command, raw_path[len(API_PREFIX) :])
            if found is None:
                raise route_not_found()
            route, params = found
            if route.scope != "any":
                if req.user is None and (route.scope not in ("read",) or req.token is not None):
                    raise unauthorized()
                if req.token is not None and not set(req.token.scopes) & SCOPES[route.scope]:
                    raise insufficient_scope(" ".join(sorted(SCOPES[route.scope])))
            elif req.token is None:
                raise unauthorized()
            if route.locked:
                with app.state.lock:
                    result = route.handler(app, req, **params)
            else:
                result = route.handler(app, req, **params)
            return self._render(req, result)
        except ApiError as e:
            return e.status, dict(e.headers), json.dumps(e.body).encode()
        except Exception:  # an emulator bug: GitLab's 500, and the test fixture reports it
            emu.internal_errors.append(traceback.format_exc())
            if emu.verbose:
                traceback.print_exc()
            return 500, {}, json.dumps({"message": "500 Internal Server Error"}).encode()

    def _authenticate(self, req: Request) -> None:
        app = self.server.emulator.app
        value = req.headers.get("private-token") or req.query.get("private_token") or req.query.get("access_token")
        auth = req.headers.get("authorization", "")
        if not value and auth.lower().startswith("bearer "):
            value = auth[7:].strip()
        if not value:
            return
        with app.state.lock:
            token = app.state.tokens.get(value)
            user = app.state.users.get(token.user_id) if token else None
        if token is None or user is None or not token.active or user.state != "active":
            raise unauthorized()
        req.token, req.user = token, user

    def _render(self, req: Request, result: Any) -> tuple[int, dict[str, str], bytes]:
        if isinstance(result, Paged):
            items, headers = paginate(req, result.items)
            if result.render is not None:
                items = [result.render(i) for i in items]
            return 200, headers, json.dumps(items).encode()
        if isinstance(result, Response):
            if result.raw is not None:
                return result.status, dict(result.headers), result.raw
            payload = b"" if result.body is None else json.dumps(result.body).encode()
            return result.status, dict(result.headers), payload
        return 200, {}, json.dumps(result).encode()
