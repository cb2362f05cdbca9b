"""The dashboard's HTTP API: what API Gateway (HTTP API, JWT authorizer, payload 2.0) does, locally.

Routes, the authorizer's issuer and audience, and CORS come from template.yaml; the intake
function runs in-process. Behaviour follows API Gateway's: 404 `{"message":"Not Found"}` for an
unknown route, 401 `{"message":"Unauthorized"}` when the token does not verify, 413 over 10 MB,
500 `{"message":"Internal Server Error"}` when the function fails or answers nonsense.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from local import cfn, logs
from local.functions import FunctionNotAvailable, LocalFunction, format_exception
from local.stack import Stack
from local.web import LocalWeb

log = logs.get("api")

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
_TEXT_TYPES = re.compile(
    r"^(text/.*|application/(json|.*\+json|xml|.*\+xml|javascript|x-www-form-urlencoded|graphql))$", re.I
)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    authorized: bool
    pattern: re.Pattern[str]
    params: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


def compile_route(route: cfn.HttpRoute, function: str) -> Route:
    """`/tickets/{ticket_id}` -> a regex; `{proxy+}` is greedy, as in API Gateway."""
    params: list[str] = []
    regex = "^"
    for segment in route.path.strip("/").split("/") if route.path != "/" else []:
        match = re.fullmatch(r"\{([^}+]+)(\+?)\}", segment)
        if match:
            params.append(match.group(1))
            regex += f"/(?P<{match.group(1)}>.+)" if match.group(2) else f"/(?P<{match.group(1)}>[^/]+)"
        else:
            regex += "/" + re.escape(segment)
    regex += "/?$" if regex != "^" else "/$"
    return Route(route.method, route.path, function, route.authorized, re.compile(regex), tuple(params))


class JwtAuthorizer:
    """Checks a bearer token as the HTTP API's JWT authorizer does, against the local user pool's keys."""

    def __init__(self, issuer: str, audiences: Iterable[str], jwks: dict[str, Any]) -> None:
        self.issuer = issuer
        self.audiences = set(audiences)
        self.keys = {key["kid"]: jwt.PyJWK(key) for key in jwks.get("keys", [])}

    def claims(self, authorization: str | None) -> dict[str, Any] | None:
        """The verified claims, or None when API Gateway would answer 401."""
        if not authorization:
            return None
        token = authorization.strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
            key = self.keys.get(header.get("kid", ""))
            if key is None or header.get("alg") != "RS256":
                return None
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                issuer=self.issuer,
                options={"require": ["exp", "iss"], "verify_aud": False},
                leeway=0,
            )
        except jwt.PyJWTError:
            return None
        # API Gateway takes `aud` (ID tokens) or, when there is none, `client_id` (access tokens).
        audience = claims.get("aud", claims.get("client_id"))
        audiences = set(audience) if isinstance(audience, list) else {audience}
        if not audiences & self.audiences:
            return None
        if claims.get("token_use") not in ("id", "access"):
            return None
        return dict(claims)


def claim_strings(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as the HTTP API passes them on: every value a string, arrays as `[a b]`."""
    out: dict[str, str] = {}
    for name, value in claims.items():
        if isinstance(value, list):
            out[name] = "[" + " ".join(str(v) for v in value) + "]"
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, dict):
            out[name] = json.dumps(value, separators=(",", ":"))
        else:
            out[name] = str(value)
    return out


def _json(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps({"message": message}), status=status, headers=headers, content_type="application/json"
    )


class HttpApi:
    """The local HTTP API: a threaded werkzeug server in front of the intake function."""

    name = "api"

    def __init__(self) -> None:
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.routes: list[Route] = []
        self.functions: dict[str, LocalFunction] = {}
        self.authorizer: JwtAuthorizer | None = None
        self.cors: dict[str, Any] = {}
        self.api_id = "local"
        self.web: LocalWeb | None = None

    def start(self, stack: Stack) -> None:
        from local.aws import fetch_jwks

        by_logical = {f.logical_id: f for f in stack.functions.values() if f.logical_id}
        for route in cfn.http_routes():
            if route.function in by_logical:
                self.routes.append(compile_route(route, route.function))
                self.functions[route.function] = by_logical[route.function]
        # Static segments win over parameters, as in API Gateway (`/tickets/search` before `/tickets/{id}`).
        self.routes.sort(key=lambda r: (r.path.count("{"), -len(r.path)))
        resolve = stack.resolver()
        jwt_config = cfn.jwt_authorizer()
        if jwt_config:
            issuer = str(resolve(jwt_config.get("issuer")))
            audiences = [str(a) for a in resolve(jwt_config.get("audience") or [])]
            self.authorizer = JwtAuthorizer(issuer, audiences, fetch_jwks(stack.names["jwks_url"]))
        self.cors = resolve(cfn.http_api().get("CorsConfiguration") or {})
        self._server = make_server(stack.config.host, stack.config.api_port, self.wsgi, threaded=True)
        port = self._server.server_address[1]
        stack.info["api_url"] = f"http://{stack.config.host}:{port}"
        # The dashboard (web/) is served on the API's own origin: no CORS between them locally.
        self.web = LocalWeb(stack.info, aws_endpoint_url=stack.aws_endpoint_url)
        stack.info["web_url"] = stack.info["api_url"] + "/"
        # The template gives escalate the execute-api URL for its pages' ack links, and every function
        # the dashboard's URL for ticket links; locally both are this server, known only now (the
        # functions read their settings on their first event, later).
        os.environ["API_URL"] = stack.info["api_url"]
        os.environ["DASHBOARD_URL"] = stack.info["api_url"]

        def serve() -> None:
            logs.set_part("api")
            assert self._server is not None
            self._server.serve_forever(poll_interval=0.1)

        self._thread = threading.Thread(target=serve, name="api", daemon=True)
        self._thread.start()
        log.info(
            "HTTP API on %s (%d routes, JWT issuer %s)",
            stack.info["api_url"],
            len(self.routes),
            self.authorizer.issuer if self.authorizer else "none",
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- WSGI --------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        logs.set_part("api")
        request = Request(environ)
        started = time.monotonic()
        try:
            response = self.handle(request)
        except Exception as exc:  # the emulator itself failed: say so, answer as API Gateway would
            log.error(
                "emulator error on %s %s:\n%s",
                logs.escape(request.method),
                logs.escape(request.path),
                format_exception(exc),
            )
            response = _json(500, "Internal Server Error")
        self._add_cors(request, response)
        log.info(
            "%s %s -> %d (%.0f ms)",
            logs.escape(request.method),  # the client's text: escaped, it can forge no line
            logs.escape(request.full_path.rstrip("?")),
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        if request.method == "OPTIONS" and self.cors and request.headers.get("Access-Control-Request-Method"):
            return self._preflight(request)
        page = self.web.handle(request) if self.web is not None else None
        if page is not None:
            return page
        route, params = self._match(request.method, request.path)
        if route is None:
            return _json(404, "Not Found")
        if request.content_length and request.content_length > MAX_BODY:
            return _json(413, "Request Entity Too Large")
        body = request.get_data(cache=False)
        if len(body) > MAX_BODY:
            return _json(413, "Request Entity Too Large")
        claims: dict[str, Any] | None = None
        if route.authorized and self.authorizer is not None:
            claims = self.authorizer.claims(request.headers.get("Authorization"))
            if claims is None:
                return _json(401, "Unauthorized", {"www-authenticate": "Bearer"})
        event = self.event(request, route, params, body, claims)
        function = self.functions[route.function]
        try:
            result = function.invoke(event)
        except FunctionNotAvailable:
            return _json(500, "Internal Server Error")
        except Exception as exc:
            log.error("%s raised:\n%s", function.folder, format_exception(exc))
            return _json(500, "Internal Server Error")
        return self.response(result)

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self.routes:
            if route.method not in (method, "ANY"):
                continue
            match = route.pattern.match(path)
            if match:
                return route, {k: v for k, v in match.groupdict().items() if v is not None}
        return None, {}

    def event(
        self,
        request: Request,
        route: Route,
        params: dict[str, str],
        body: bytes,
        claims: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """The payload 2.0 event API Gateway would send for this request."""
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
        source_ip = request.remote_addr or "127.0.0.1"
        headers.setdefault("x-forwarded-for", source_ip)
        headers.setdefault("x-forwarded-proto", request.scheme)
        headers.setdefault("x-forwarded-port", str(request.environ.get("SERVER_PORT", "")))
        headers.setdefault("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}")
        now = time.time()
        request_id = base64.b64encode(secrets.token_bytes(10)).decode()
        host = headers.get("host", "localhost")
        query: dict[str, str] = {}
        for name, values in request.args.lists():
            query[name] = ",".join(values)
        context: dict[str, Any] = {
            "accountId": cfn.ACCOUNT_ID,
            "apiId": self.api_id,
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        }
        if claims is not None:
            scopes = str(claims["scope"]).split() if claims.get("scope") else None
            context["authorizer"] = {"jwt": {"claims": claim_strings(claims), "scopes": scopes}}
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": request.path,
            "rawQueryString": request.query_string.decode("latin-1"),
            "headers": headers,
            "requestContext": context,
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if params:
            event["pathParameters"] = params
        if body:
            content_type = headers.get("content-type", "").split(";")[0].strip()
            text = _as_text(body) if _TEXT_TYPES.match(content_type) else None
            if text is None:
                event["body"] = base64.b64encode(body).decode()
                event["isBase64Encoded"] = True
            else:
                event["body"] = text
        return event

    def response(self, result: Any) -> Response:
        """Map the function's answer back, as payload 2.0 does (a bare dict or string is a 200 JSON body)."""
        if not isinstance(result, dict) or "statusCode" not in result:
            return Response(json.dumps(result), status=200, content_type="application/json")
        try:
            status = int(result["statusCode"])
        except (TypeError, ValueError):
            log.error("the function returned an invalid statusCode: %r", result.get("statusCode"))
            return _json(500, "Internal Server Error")
        raw = result.get("body")
        if raw is None:
            data = b""
        elif result.get("isBase64Encoded"):
            data = base64.b64decode(str(raw))
        else:
            data = str(raw).encode()
        response = Response(data, status=status)
        response.headers.remove("Content-Type")
        for name, value in (result.get("headers") or {}).items():
            response.headers[name] = str(value)
        for name, values in (result.get("multiValueHeaders") or {}).items():
            for value in values:
                response.headers.add(name, str(value))
        for cookie in result.get("cookies") or []:
            response.headers.add("Set-Cookie", str(cookie))
        if "Content-Type" not in response.headers and data:
            response.headers["Content-Type"] = "application/json"
        return response

    # --- CORS, from the template's CorsConfiguration ------------------------------------------

    def _origin_allowed(self, origin: str | None) -> bool:
        allowed = [str(o) for o in self.cors.get("AllowOrigins") or []]
        return bool(origin) and ("*" in allowed or origin in allowed)

    def _preflight(self, request: Request) -> Response:
        origin = request.headers.get("Origin")
        response = Response(status=204)
        if self._origin_allowed(origin):
            response.headers["Access-Control-Allow-Origin"] = str(origin)
            response.headers["Access-Control-Allow-Methods"] = ",".join(self.cors.get("AllowMethods") or [])
            response.headers["Access-Control-Allow-Headers"] = ",".join(self.cors.get("AllowHeaders") or [])
            if self.cors.get("MaxAge"):
                response.headers["Access-Control-Max-Age"] = str(self.cors["MaxAge"])
        return response

    def _add_cors(self, request: Request, response: Response) -> None:
        origin = request.headers.get("Origin")
        if self.cors and self._origin_allowed(origin) and request.method != "OPTIONS":
            response.headers["Access-Control-Allow-Origin"] = str(origin)
            if self.cors.get("ExposeHeaders"):
                response.headers["Access-Control-Expose-Headers"] = ",".join(self.cors["ExposeHeaders"])


def _as_text(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None
