"""The local stack serves the dashboard on the API's origin, with the deployed site's headers."""

from __future__ import annotations

import urllib.request

import pytest

from tests.e2e.conftest import RunningStack, http

pytestmark = pytest.mark.e2e


def _get(stack: RunningStack, path: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(stack.api_url + path, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def test_local_web_serves_the_page_without_a_token_under_a_strict_csp(stack: RunningStack) -> None:
    # GIVEN the running stack, which names its dashboard in stack.json
    assert stack.info["web_url"] == stack.api_url + "/"
    # WHEN a browser loads the page and its script, with no token
    status, headers, body = _get(stack, "/")
    script_status, script_headers, _ = _get(stack, "/js/main.js")
    # THEN both are served, the page as HTML whose script is a file of its own
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b'<script type="module" src="/js/main.js"></script>' in body
    assert script_status == 200 and script_headers["content-type"].startswith("text/javascript")
    # AND under a CSP that allows no inline script or style and no framing
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


def test_local_web_config_names_the_api_origin_and_the_demo_sign_in(stack: RunningStack) -> None:
    # WHEN the page reads its config
    got = http(stack, "GET", "/config.json")
    # THEN the API is on its own origin and sign-in is the local demo
    assert got.status == 200
    assert got.body == {"api_url": "", "auth": "demo"}


def test_local_web_demo_sign_in_gives_a_token_the_api_accepts(stack: RunningStack) -> None:
    # WHEN the page signs in as each demo user
    customer = http(stack, "POST", "/local/sign-in", body={"role": "customer"})
    support = http(stack, "POST", "/local/sign-in", body={"role": "support"})
    # THEN it gets ID tokens that the API's authorizer accepts, with each user's rights
    assert customer.status == 200 and customer.body["email"] == "alice@acme.example"
    assert http(stack, "GET", "/tickets", token=customer.body["id_token"]).status == 200
    assert http(stack, "GET", "/contacts", token=customer.body["id_token"]).status == 403
    assert http(stack, "GET", "/contacts", token=support.body["id_token"]).status == 200
    assert customer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"role": "admin"}, "role"), ({}, "role"), ("not json", None), (["customer"], None)],
)
def test_local_web_demo_sign_in_refuses_anything_else_with_a_4xx(
    stack: RunningStack, body: object, field: str | None
) -> None:
    # WHEN the sign-in gets another role or no JSON object
    got = http(stack, "POST", "/local/sign-in", body=body)
    # THEN it is a 400 that names the problem, and no token
    assert got.status == 400, got.body
    assert got.body["errors"][0]["field"] == field
    assert "id_token" not in got.body


@pytest.mark.parametrize(
    "path", ["/../template.yaml", "/js/../../template.yaml", "/.gitignore", "/config.json/x", "/js/"]
)
def test_local_web_serves_only_files_of_web(stack: RunningStack, path: str) -> None:
    # WHEN a path outside web/ (or no file of it) is asked for
    status, _, body = _get(stack, path)
    # THEN it is not served: the API answers it (no such route) as before
    assert status == 404
    assert b"Resources" not in body


def test_local_web_leaves_the_api_routes_to_the_api(stack: RunningStack, customer_token: str) -> None:
    # WHEN the API's own routes are called on the same origin
    listed = http(stack, "GET", "/tickets", token=customer_token)
    unauthorized = http(stack, "GET", "/tickets")
    # THEN the API answers them, the authorizer included
    assert listed.status == 200 and "items" in listed.body
    assert unauthorized.status == 401
