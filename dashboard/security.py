"""Safe serving: bind address, access token, Host and Origin checks.

The dashboard serves on 127.0.0.1 unless told otherwise. Serving beyond this computer
needs an access token (one is generated when none is given): the first request
carries it as `?token=...`, after which a same-site cookie does. On loopback the Host
header must name this computer, which defeats DNS-rebinding pages; state-changing
requests (all Dash callbacks are POSTs) must come from the dashboard's own origin.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, Response, request

from imu.errors import SettingsError

TOKEN_PARAM = "token"
TOKEN_COOKIE = "pm_token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    """True for addresses that only this computer can reach."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AccessPolicy:
    """Who may use the dashboard: the bind host and, if set, the token they must show."""

    host: str
    token: str | None
    notice: str = ""
    """What the command should tell the user about access (empty on plain loopback)."""

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def access_policy(host: str, token: str | None) -> AccessPolicy:
    """The policy for serving on `host`: beyond loopback a token is always required."""
    if token is not None and len(token) < 8:
        raise SettingsError("the access token must be at least 8 characters long.")
    if is_loopback(host):
        return AccessPolicy(host, token)
    if token is None:
        token = secrets.token_urlsafe(18)
    note = (f"Serving beyond this computer (on {host}): an access token is required. "
            "Open the URL with ?token=... shown below; anyone with the token can see "
            "the dashboard.")
    return AccessPolicy(host, token, note)


def host_allowed(host_header: str, policy: AccessPolicy) -> bool:
    """On loopback, the Host header must name this computer (DNS-rebinding defence)."""
    if not policy.loopback:
        return True
    name = urlsplit("//" + host_header).hostname or ""
    return is_loopback(name)


def origin_allowed(origin: str | None, host_header: str) -> bool:
    """A state-changing request must come from a page of this server (or from no page)."""
    if not origin:
        return True  # non-browser clients (and same-origin GETs) send none
    return urlsplit(origin).netloc.lower() == host_header.lower()


def token_ok(given: str | None, policy: AccessPolicy) -> bool:
    if policy.token is None:
        return True
    return given is not None and hmac.compare_digest(given.encode(), policy.token.encode())


def _refuse(status: int, text: str) -> Response:
    return Response(text, status=status, mimetype="text/plain")


def install_guards(server: Flask, policy: AccessPolicy) -> None:
    """Check every request against the policy before Dash sees it."""

    @server.before_request
    def _check():  # noqa: ANN202 - Flask hook
        host = request.headers.get("Host", "")
        if not host_allowed(host, policy):
            return _refuse(403, f"Refused: this dashboard serves only this computer, not '{host}'.")
        if request.method not in ("GET", "HEAD", "OPTIONS") and \
                not origin_allowed(request.headers.get("Origin"), host):
            return _refuse(403, "Refused: the request came from another web site.")
        given = request.args.get(TOKEN_PARAM) or request.cookies.get(TOKEN_COOKIE)
        if not token_ok(given, policy):
            return _refuse(401, "Access token required: open the dashboard with the URL that "
                                "pelvis-monitor printed (it ends in ?token=...).")
        return None

    @server.after_request
    def _headers(resp: Response) -> Response:
        if policy.token and request.args.get(TOKEN_PARAM):
            resp.set_cookie(TOKEN_COOKIE, policy.token, httponly=True, samesite="Strict")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        # The token may sit in the address bar: never send it on to other sites.
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        return resp
