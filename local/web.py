"""The dashboard's static files on the local HTTP API's origin, and the local-only demo sign-in.

`web/` is served as CloudFront serves the deployed site: the same security headers (a strict
Content-Security-Policy whose `connect-src` is this origin instead of the API and Cognito), no
token needed. `config.json` is generated: it tells the page to call the API on its own origin and
to offer the demo sign-in. `POST /local/sign-in` hands out the demo ID tokens that the stack
minted at start, so that a browser can sign in without a hosted UI; nothing like it deploys.

A ticket link in a page or an email (`<DASHBOARD_URL>/tickets/<id>`, the stack sets DASHBOARD_URL
to this origin) is the API's `GET /tickets/{id}` path too. A browser's navigation to it gets the
page, as the deployed site's fallback gives it; any other request (the page's own fetch with its
token, curl, a script) is the API's.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from local import logs

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
SIGN_IN_PATH = "/local/sign-in"
ROLES = ("customer", "support")
MAX_SIGN_IN_BODY = 1024

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
}

# The paths the page routes itself (web/js/main.js, boot): ticket links.
_DEEP_LINK = re.compile(r"^/tickets/[A-Za-z0-9-]{1,32}/?$")

log = logs.get("web")


def content_security_policy(connect_src: str) -> str:
    """The dashboard's CSP; template.yaml's ResponseHeadersPolicy states the same directives."""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {connect_src}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(connect_src: str) -> dict[str, str]:
    """What the deployed site's ResponseHeadersPolicy adds (HSTS only means something over HTTPS)."""
    return {
        "Content-Security-Policy": content_security_policy(connect_src),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    }


class LocalWeb:
    """Answers the dashboard's own paths; everything else is left to the API (None)."""

    def __init__(self, info: Mapping[str, Any], *, aws_endpoint_url: str = "", root: Path = WEB_ROOT) -> None:
        self.info = info  # the stack's info: the demo tokens are read from it at each sign-in
        self.root = root.resolve()
        # Presigned attachment URLs point at the AWS emulation, another origin.
        self.connect_src = " ".join(filter(None, ("'self'", aws_endpoint_url)))

    def handle(self, request: Request) -> Response | None:
        if request.path == SIGN_IN_PATH:
            return self._sign_in(request) if request.method == "POST" else self._error(405, "use POST")
        if request.method not in ("GET", "HEAD"):
            return None
        if request.path == "/config.json":
            return self._static(json.dumps(self.config()).encode(), ".json")
        if _DEEP_LINK.match(request.path) and _navigation(request):
            return self._static((self.root / "index.html").read_bytes(), ".html")
        file = self._file(request.path)
        if file is None:
            return None
        return self._static(file.read_bytes(), file.suffix)

    def config(self) -> dict[str, Any]:
        """What the page needs to know about where it runs (on AWS the deployment writes this file)."""
        return {"api_url": "", "auth": "demo"}

    def _file(self, path: str) -> Path | None:
        """The file under web/ that `path` names; None for anything else (the API's routes)."""
        relative = "index.html" if path in ("/", "/index.html") else path.lstrip("/")
        if not relative or relative.startswith(".") or "/." in relative or "\\" in relative:
            return None
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        if candidate.suffix not in _TYPES or candidate.name == "config.json":
            return None
        return candidate

    def _static(self, data: bytes, suffix: str) -> Response:
        content_type = _TYPES.get(suffix) or mimetypes.guess_type(f"x{suffix}")[0] or "application/octet-stream"
        response = Response(data, status=200, content_type=content_type)
        # Edits to web/ show on the next load; the files are small and the origin is local.
        response.headers["Cache-Control"] = "no-cache"
        response.headers.update(security_headers(self.connect_src))
        return response

    def _sign_in(self, request: Request) -> Response:
        raw = request.get_data(cache=False)
        if len(raw) > MAX_SIGN_IN_BODY:
            return self._error(413, "the body is too large", field=None)
        try:
            role = json.loads(raw or b"{}").get("role")
        except (ValueError, AttributeError):
            return self._error(400, 'send JSON: {"role": "customer" | "support"}', field=None)
        if role not in ROLES:
            return self._error(400, "role must be customer or support", field="role")
        token = (self.info.get("tokens") or {}).get(role)
        if not token:
            return self._error(503, "the demo users are not ready", field=None)
        users = self.info.get("demo_users") or {}
        log.info("demo sign-in as %s", role)
        body = {"id_token": token, "role": role, "email": users.get(role)}
        response = Response(json.dumps(body), status=200, content_type="application/json")
        response.headers["Cache-Control"] = "no-store"
        return response

    @staticmethod
    def _error(status: int, message: str, field: str | None = None) -> Response:
        body = {"message": message, "errors": [{"field": field, "reason": message}]}
        return Response(json.dumps(body), status=status, content_type="application/json")


def _navigation(request: Request) -> bool:
    """A browser loading a document: what it sends when a person opens a link, never on a fetch."""
    if "Authorization" in request.headers:
        return False
    mode = request.headers.get("Sec-Fetch-Mode")
    if mode is not None:
        return mode == "navigate"
    return "text/html" in request.headers.get("Accept", "")
