"""Safety of the local web servers: binding, access token, CSRF, headers, safe paths.

Threat model: the workbench shows untrusted model text and writes to the user's files,
so (1) it is reachable only from this machine unless the user says otherwise, (2) when
exposed, every request needs a secret token, (3) another web site open in the same
browser can neither read pages (DNS rebinding is stopped by the Host check) nor make the
browser change data (POSTs need a same-origin request carrying the per-server CSRF
token), (4) nothing a model wrote can run as script (Jinja autoescaping everywhere, and a
CSP that allows only our own static script files), and (5) no path taken from a request
can leave the project or results folder.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from refusalkit.core.errors import ConfigError

TOKEN_ENV = "REFUSALKIT_WEB_TOKEN"
TOKEN_COOKIE = "refusalkit_token"
CSRF_FIELD = "csrf"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(slots=True)
class Security:
    """Per-server secrets and rules. `token` None: loopback only, no token needed."""

    port: int
    token: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    allowed_hosts: frozenset[str] | None = None  # None: any Host header (exposed + token)
    token_shown: bool = True  # False when the user supplied it: never print it then

    def token_ok(self, given: str | None) -> bool:
        if self.token is None:
            return True
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def csrf_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(str(given).encode(), self.csrf.encode())

    def host_ok(self, host_header: str | None) -> bool:
        if self.allowed_hosts is None:
            return True
        return (host_header or "").lower() in self.allowed_hosts


def make_security(host: str, port: int, *, expose: bool, token: str | None = None) -> Security:
    """Check the bind address against `--expose` and set up the token.

    Loopback without `--expose`: no token, and only `localhost`/`127.0.0.1`/`[::1]` Host
    headers are served. Any other address needs `--expose`, and then a token (from the
    argument, `REFUSALKIT_WEB_TOKEN`, or freshly generated) guards every request.
    """
    if not is_loopback(host) and not expose:
        raise ConfigError(
            f"--host {host} makes the server reachable from other machines",
            hint="add --expose to do that on purpose (a token is then required on every request)",
        )
    if not expose:
        names = ("127.0.0.1", "localhost", "[::1]")
        allowed = frozenset({f"{n}:{port}" for n in names} | set(names))
        return Security(port=port, allowed_hosts=allowed)
    given = token or os.environ.get(TOKEN_ENV)
    if given is not None and len(given) < 16:
        raise ConfigError(f"the web token must have at least 16 characters (check ${TOKEN_ENV})")
    return Security(port=port, token=given or secrets.token_urlsafe(24), token_shown=given is None)


def install(app: Any, sec: Security) -> None:
    """Add the checks and headers to a FastAPI/Starlette app (runs on every request)."""
    from starlette.responses import PlainTextResponse, RedirectResponse

    @app.middleware("http")
    async def _guard(request: Any, call_next: Any) -> Any:
        if not sec.host_ok(request.headers.get("host")):
            return _with_headers(PlainTextResponse("unexpected Host header", status_code=421))
        if sec.token is not None:
            query_token = request.query_params.get("token")
            if query_token is not None and sec.token_ok(query_token):
                # move the token into a cookie and drop it from the address bar/history
                rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                url = request.url.path + (("?" + urlencode(rest)) if rest else "")
                resp = RedirectResponse(url, status_code=303)
                resp.set_cookie(TOKEN_COOKIE, sec.token, httponly=True, samesite="strict", path="/")
                return _with_headers(resp)
            auth = request.headers.get("authorization", "")
            given = auth[7:] if auth.lower().startswith("bearer ") else None
            if not sec.token_ok(given) and not sec.token_ok(request.cookies.get(TOKEN_COOKIE)):
                return _with_headers(
                    PlainTextResponse(
                        "this server needs its access token: open the URL printed when it "
                        "started (…?token=…)",
                        status_code=401,
                    )
                )
        if request.method not in ("GET", "HEAD", "OPTIONS") and not same_origin(request):
            return _with_headers(PlainTextResponse("cross-origin request refused", status_code=403))
        return _with_headers(await call_next(request))


def _with_headers(resp: Any) -> Any:
    for k, v in HEADERS.items():
        resp.headers.setdefault(k, v)
    return resp


def same_origin(request: Any) -> bool:
    """A state-changing request must come from our own pages.

    Browsers mark every request with `Sec-Fetch-Site`, which pages cannot forge: only
    `same-origin` (or `none`, typed by the user) passes. Clients without fetch metadata
    must send a matching `Origin`, or none at all (curl, scripts); the CSRF token is
    checked in every case.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == (request.headers.get("host") or "").lower()


def require_csrf(sec: Security, given: str | None) -> None:
    """Refuse a POST whose form does not carry this server's CSRF token."""
    from starlette.exceptions import HTTPException

    if not sec.csrf_ok(given):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


def safe_path(root: str | Path, relative: str) -> Path:
    """`root/relative`, refusing absolute paths, `..` and symlinks that lead outside root."""
    base = Path(root).resolve()
    if not relative or relative.startswith(("/", "\\")) or Path(relative).is_absolute():
        raise ConfigError(f"path {relative!r} must be relative to {base}")
    if "\x00" in relative or ".." in Path(relative).parts:
        raise ConfigError(f"path {relative!r} may not contain '..'")
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise ConfigError(f"path {relative!r} leads outside {base}")
    return target
