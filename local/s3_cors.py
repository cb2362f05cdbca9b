"""The attachments bucket's CORS as S3 applies it, in front of moto's server.

moto's server allows every origin on every answer (flask-cors) and skips a bucket's CORS rules on a
form POST, so a browser upload would work locally whatever the template says. The emulator turns
moto's global CORS off and puts this middleware in front: a browser's cross-origin request to the
bucket is answered from the template's `CorsConfiguration`, with `DashboardOrigin` resolved to the
local dashboard's origin, as S3 answers it (a preflight that no rule allows is a 403; an actual
request that no rule allows gets no `Access-Control-Allow-Origin`, so the browser refuses it).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from typing import Any

from local import cfn, logs

log = logs.get("aws")

Rules = list[dict[str, Any]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def template_rules(resolve: cfn.Resolver, logical_id: str) -> Rules:
    """The bucket's CORS rules from template.yaml, resolved (no rules: no cross-origin access)."""
    config = cfn.resource(logical_id).get("CorsConfiguration") or {}
    return [dict(rule) for rule in resolve(config.get("CorsRules") or [])]


def _matches(value: str, patterns: Iterable[str]) -> bool:
    # S3 allows one `*` wildcard in an origin or header; matching is case-insensitive for headers.
    return any(fnmatch.fnmatchcase(value, str(p)) for p in patterns)


def matching_rule(rules: Rules, origin: str, method: str, headers: Iterable[str] = ()) -> dict[str, Any] | None:
    """The first rule that allows this origin, method and request headers, as S3 picks it."""
    for rule in rules:
        if not _matches(origin, rule.get("AllowedOrigins") or []):
            continue
        if method.upper() not in [str(m).upper() for m in rule.get("AllowedMethods") or []]:
            continue
        allowed = [str(h).lower() for h in rule.get("AllowedHeaders") or []]
        if all(_matches(h.lower(), allowed) for h in headers if h):
            return rule
    return None


class BucketCors:
    """WSGI middleware: CORS for path-style requests to one bucket, from rules read at each request."""

    def __init__(self, app: WsgiApp, bucket: Callable[[], str], rules: Callable[[], Rules]) -> None:
        self.app = app
        self.bucket = bucket  # known once the resources exist, after the server started
        self.rules = rules  # known once the dashboard's origin is, later still

    def _for_bucket(self, environ: dict[str, Any]) -> bool:
        name = self.bucket()
        path = str(environ.get("PATH_INFO") or "")
        return bool(name) and (path == f"/{name}" or path.startswith(f"/{name}/"))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        origin = str(environ.get("HTTP_ORIGIN") or "")
        if not origin or not self._for_bucket(environ):
            return self.app(environ, start_response)
        method = str(environ.get("REQUEST_METHOD") or "GET")
        requested = str(environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD") or "")
        if method == "OPTIONS" and requested:
            return self._preflight(environ, start_response, origin, requested)
        rule = matching_rule(self.rules(), origin, method)
        if rule is None:
            log.info("s3 cors: no rule allows %s %s", method, origin)
            return self.app(environ, start_response)

        def with_cors(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
            kept += [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
            kept += [("Access-Control-Allow-Methods", ", ".join(rule.get("AllowedMethods") or []))]
            if rule.get("ExposedHeaders"):
                kept.append(("Access-Control-Expose-Headers", ", ".join(rule["ExposedHeaders"])))
            return start_response(status, kept, exc_info)

        return self.app(environ, with_cors)

    def _preflight(
        self, environ: dict[str, Any], start_response: Callable[..., Any], origin: str, method: str
    ) -> Iterable[bytes]:
        raw = str(environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS") or "")
        headers = [h.strip() for h in raw.split(",") if h.strip()]
        rule = matching_rule(self.rules(), origin, method, headers)
        if rule is None:
            log.info("s3 cors: preflight refused for %s %s", method, origin)
            body = b"<Error><Code>AccessForbidden</Code><Message>CORSResponse: This CORS request is not allowed.</Message></Error>"
            start_response(
                "403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
            )
            return [body]
        out = [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Methods", ", ".join(rule.get("AllowedMethods") or [])),
            ("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"),
            ("Content-Length", "0"),
        ]
        if headers:
            out.append(("Access-Control-Allow-Headers", ", ".join(headers)))
        if rule.get("MaxAge") is not None:
            out.append(("Access-Control-Max-Age", str(rule["MaxAge"])))
        start_response("200 OK", out)
        return [b""]
