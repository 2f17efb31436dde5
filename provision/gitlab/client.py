"""The python-gitlab boundary: every call to GitLab goes through `GitLabClient`, and every
python-gitlab or requests exception becomes one of our errors here (`raise ... from e`).

Rules the provider relies on:
- `get()` returns None only for a 404; 401, 403, 429 and 5xx raise (never "absent").
- `list()` reads every page (`get_all=True`), 100 items a page.
- Retries: python-gitlab's own (`retry_transient_errors=True`, `obey_rate_limit=True`,
  `max_retries` from configuration) for 429, 5xx, time-outs and dropped connections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import gitlab
import gitlab.exceptions as glexc
import requests

from provision.errors import AuthError, ConfigError, ProviderError, ProvisionError, Unreachable

TRANSIENT = (429, 502, 503, 504)


def enc(path: str) -> str:
    """A full path or name as one URL segment (`a/b` -> `a%2Fb`)."""
    return quote(path, safe="")


class GitLabError(ProviderError):
    """GitLab answered with an error not mapped more precisely; `status` and `body` say which."""

    def __init__(self, message: str, status: int | None = None, body: Any = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status
        self.body = body

    @property
    def taken(self) -> bool:
        """A create that lost a race: 409, or 400 'has already been taken' (string or dict)."""
        return self.status == 409 or (self.status == 400 and "already been taken" in str(self.body))


class ScopeError(AuthError):
    """The token works but lacks the `api` scope."""


@dataclass
class Counter:
    """Calls this client made (for the benchmark and for callers that want to show them)."""

    reads: int = 0
    writes: int = 0
    by_what: dict[str, int] = field(default_factory=dict)


class GitLabClient:
    """A thin, typed layer over `gitlab.Gitlab`'s HTTP methods with our error mapping."""

    def __init__(self, url: str, token: str, *, ca_bundle: str = "", timeout: float = 30.0,
                 max_retries: int = 5, per_page: int = 100) -> None:
        if not url:
            raise ConfigError("gitlab.url is not set.", "Set it in the configuration (e.g. https://gitlab.batam.go.id).")
        if not token:
            raise ConfigError("no GitLab token.", "Set PROVISION_GITLAB_TOKEN or gitlab.token_file (mode 0600).")
        self.url = url.rstrip("/")
        self.max_retries = max_retries
        self.per_page = per_page
        self.counter = Counter()
        self.gl = gitlab.Gitlab(self.url, private_token=token, timeout=timeout,
                                ssl_verify=ca_bundle or True, retry_transient_errors=True,
                                per_page=per_page, keep_base_url=True)

    @classmethod
    def from_config(cls, config: Any, per_page: int = 100) -> GitLabClient:
        s = config.gitlab
        return cls(s.url, config.secret("gitlab", "token") or "", ca_bundle=s.ca_bundle,
                   timeout=s.timeout, max_retries=s.max_retries, per_page=per_page)

    # -- the calls ----------------------------------------------------------------------
    def get(self, path: str, what: str, **query: Any) -> dict[str, Any] | None:
        """The object at `path`, or None when GitLab answers 404."""
        try:
            return self._call("get", path, what, query)
        except GitLabError as e:
            if e.status == 404:
                return None
            raise

    def head(self, path: str, what: str, **query: Any) -> dict[str, str] | None:
        """The headers of `path` (HEAD), or None when GitLab answers 404."""
        try:
            return dict(self._call("head", path, what, query))
        except GitLabError as e:
            if e.status == 404:
                return None
            raise

    def list(self, path: str, what: str, **query: Any) -> list[dict[str, Any]]:
        """Every item of a list, all pages."""
        self.counter.reads += 1  # the first page; later pages are counted by the server side
        self._count(what)
        try:
            return list(self.gl.http_list(path, query_data=query, get_all=True,
                                          max_retries=self.max_retries, per_page=self.per_page))
        except Exception as e:  # noqa: BLE001 - converted below, never swallowed
            raise self._convert(e, what) from e

    def post(self, path: str, what: str, data: dict[str, Any] | None = None, **query: Any) -> Any:
        return self._call("post", path, what, query, data)

    def put(self, path: str, what: str, data: dict[str, Any] | None = None, **query: Any) -> Any:
        return self._call("put", path, what, query, data)

    def patch(self, path: str, what: str, data: dict[str, Any] | None = None, **query: Any) -> Any:
        return self._call("patch", path, what, query, data)

    def delete(self, path: str, what: str, **query: Any) -> Any:
        return self._call("delete", path, what, query)

    def _count(self, what: str) -> None:
        key = what.split(" ")[0]
        self.counter.by_what[key] = self.counter.by_what.get(key, 0) + 1

    def _call(self, verb: str, path: str, what: str, query: dict[str, Any],
              data: dict[str, Any] | None = None) -> Any:
        if verb in ("get", "head"):
            self.counter.reads += 1
        else:
            self.counter.writes += 1
        self._count(what)
        try:
            if verb == "get":
                return self.gl.http_get(path, query_data=query, max_retries=self.max_retries)
            if verb == "head":
                return self.gl.http_head(path, query_data=query, max_retries=self.max_retries)
            if verb == "post":
                return self.gl.http_post(path, query_data=query, post_data=data or {}, max_retries=self.max_retries)
            if verb == "put":
                return self.gl.http_put(path, query_data=query, post_data=data or {}, max_retries=self.max_retries)
            if verb == "patch":
                return self.gl.http_patch(path, query_data=query, post_data=data or {}, max_retries=self.max_retries)
            self.gl.http_delete(path, query_data=query, max_retries=self.max_retries)
            return None
        except Exception as e:  # noqa: BLE001 - converted below, never swallowed
            raise self._convert(e, what) from e

    # -- the token ----------------------------------------------------------------------
    def check_token(self) -> dict[str, Any]:
        """Check that the token works and has the `api` scope; returns what GitLab says of it.

        Raises AuthError (exit 9) for a refused, revoked or expired token and ScopeError for a
        token without `api`; Unreachable (exit 8) when GitLab cannot be reached.
        """
        info = self.get("/personal_access_tokens/self", "the token check")
        if info is None:  # GitLab before 15.5: no self endpoint; the user endpoint still proves the token
            user = self.get("/user", "the token check")
            if user is None:
                raise AuthError(f"GitLab at {self.url} does not recognise the token.",
                                "Check PROVISION_GITLAB_TOKEN or gitlab.token_file.")
            return {"user": user.get("username"), "scopes": None}
        if info.get("revoked") or info.get("active") is False:
            raise AuthError(f"the GitLab token {info.get('name')!r} is revoked or expired"
                            f"{' (expired ' + str(info['expires_at']) + ')' if info.get('expires_at') else ''}.",
                            "Create a new personal access token with the api scope.")
        scopes = list(info.get("scopes") or [])
        if "api" not in scopes:
            raise ScopeError(f"the GitLab token {info.get('name')!r} has the scopes "
                             f"{', '.join(scopes) or 'none'} but not api, which creating "
                             "groups, projects and members needs.",
                             "Create a token with the api scope and set it in PROVISION_GITLAB_TOKEN.")
        return {"name": info.get("name"), "scopes": scopes, "user_id": info.get("user_id"),
                "expires_at": info.get("expires_at")}

    # -- error mapping ------------------------------------------------------------------
    def _convert(self, e: Exception, what: str) -> ProvisionError:
        if isinstance(e, ProvisionError):
            return e
        if isinstance(e, glexc.GitlabAuthenticationError):
            return AuthError(f"GitLab at {self.url} refused the token (401) while reading or writing {what}.",
                             "The token is wrong, revoked or expired: check PROVISION_GITLAB_TOKEN or gitlab.token_file.")
        if isinstance(e, requests.exceptions.SSLError):
            return Unreachable(f"cannot verify the TLS certificate of GitLab at {self.url}: {_first_line(e)}.",
                               "Set gitlab.ca_bundle to the CA that signed it.")
        if isinstance(e, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                          requests.exceptions.ChunkedEncodingError)):
            return Unreachable(f"GitLab at {self.url} could not be reached for {what} after "
                               f"{self.max_retries} retries ({type(e).__name__}).",
                               "Check gitlab.url, the network and that GitLab is up; then run again.")
        if isinstance(e, glexc.RedirectError):
            return GitLabError(f"GitLab redirected a write for {what}: {e}", None, None,
                               "Check gitlab.url (http vs https, trailing path).")
        if isinstance(e, glexc.GitlabError):
            code = e.response_code
            body = e.error_message
            text = body if isinstance(body, str) else str(body)
            if code == 403 and "insufficient_scope" in text:
                return ScopeError(f"the GitLab token lacks the api scope ({what}: 403 insufficient_scope).",
                                  "Create a token with the api scope.")
            if code == 403:
                return AuthError(f"GitLab refused {what} (403 Forbidden: {text}).",
                                 "The token's user needs the Maintainer role (Owner for groups) "
                                 "on the root group; an archived project refuses every write.")
            if code in TRANSIENT:
                label = "rate limited (429)" if code == 429 else f"unavailable ({code})"
                return Unreachable(f"GitLab at {self.url} stayed {label} for {what} after "
                                   f"{self.max_retries} retries.",
                                   "Wait and run again, or raise gitlab.max_retries.")
            if code is not None and code >= 500:
                return GitLabError(f"GitLab failed on {what} with {code} ({text}) after "
                                   f"{self.max_retries} retries.", code, body,
                                   "Look at GitLab's logs; run again when it is fixed.")
            return GitLabError(f"GitLab refused {what}: {code} {text}.", code, body)
        return GitLabError(f"unexpected error talking to GitLab for {what}: {e!r}")


def _first_line(e: Exception) -> str:
    return str(e).splitlines()[0][:200] if str(e) else type(e).__name__
