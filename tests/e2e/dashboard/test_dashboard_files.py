"""Files in the browser: a customer attaches one from the ticket's page; both sides download it."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import RunningStack, http
from tests.e2e.dashboard.conftest import Dashboard
from tests.e2e.dashboard.helpers import create, read, token, unique

pytestmark = pytest.mark.e2e

CONTENT = b"2026-12-02 09:00 error: disk full on web-2\n"


def _open_ticket(board: Dashboard, ticket_id: str) -> None:
    board.go(f"#/tickets/{ticket_id}")
    expect(board.page.locator(".details")).to_be_visible()


def _download(board: Dashboard, name: str) -> tuple[str, bytes]:
    """Press the file's download button; what the browser saved (its name and bytes)."""
    files = board.page.get_by_role("region", name="Files")
    with board.page.expect_download() as started:
        files.get_by_role("button", name=f"Download {name}").click()
    download = started.value
    saved = download.path()
    assert download.failure() is None, download.failure()
    return download.suggested_filename, Path(saved).read_bytes()


def test_dashboard_customer_attaches_a_file_then_both_sides_download_it(
    dashboard: Dashboard, second_dashboard: Dashboard, stack: RunningStack
) -> None:
    # GIVEN the customer on their ticket
    ticket = create(stack, type="incident", title=unique("Disk full on web-2"))
    dashboard.sign_in("customer")
    _open_ticket(dashboard, ticket["id"])
    page = dashboard.page
    # WHEN they choose a file and press Upload
    page.get_by_label("Attach a file").set_input_files(
        files=[{"name": "web-2.log", "mimeType": "text/plain", "buffer": CONTENT}]
    )
    page.get_by_role("button", name="Upload").click()
    # THEN the page says it is uploaded, with no error next to the file field or anywhere else
    # (a refused cross-origin answer still stores the file: only the page's reading of it fails)
    expect(page.get_by_role("status").filter(has_text="web-2.log uploaded.")).to_be_visible()
    expect(page.locator("#attachment-error")).to_be_empty()
    expect(page.locator("main [role=alert]:visible")).to_have_count(0)
    # AND the ticket lists the file by name, with its size
    files = page.get_by_role("region", name="Files")
    expect(files.get_by_role("button", name="Download web-2.log")).to_be_visible()
    expect(files).to_contain_text(f"({len(CONTENT)} B)")
    dashboard.shot("ticket-file-attached")
    # AND the API lists it as the ticket's first file
    listed = read(stack, ticket["id"], role="customer")["attachments"]
    assert listed == [{"name": "web-2.log", "size": len(CONTENT), "content_type": "text/plain", "n": 1}]
    # AND the customer downloads it: the same name, the same bytes
    assert _download(dashboard, "web-2.log") == ("web-2.log", CONTENT)
    # AND support staff see it on the ticket and download it too
    second_dashboard.sign_in("support")
    _open_ticket(second_dashboard, ticket["id"])
    assert _download(second_dashboard, "web-2.log") == ("web-2.log", CONTENT)
    second_dashboard.shot("ticket-file-staff")


def _preflight(url: str, origin: str, method: str = "POST", headers: str = "") -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, method="OPTIONS")
    request.add_header("Origin", origin)
    request.add_header("Access-Control-Request-Method", method)
    if headers:
        request.add_header("Access-Control-Request-Headers", headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}


def test_local_bucket_answers_cors_for_the_dashboard_origin_only(stack: RunningStack) -> None:
    # GIVEN an upload form for a ticket, and the origin the dashboard is served from
    ticket = create(stack, type="question", title=unique("CORS check"))
    form = http(
        stack,
        "POST",
        f"/tickets/{ticket['id']}/attachments",
        token=token(stack, "customer"),
        body={"name": "a.txt", "content_type": "text/plain"},
    )
    assert form.status == 201, form.body
    dashboard_origin = str(stack.info["web_url"]).rstrip("/")
    # WHEN a browser on the dashboard asks whether it may POST there (a preflight)
    status, headers = _preflight(form.body["url"], dashboard_origin)
    # THEN the bucket allows that origin, as the template's CORS rule says
    assert status == 200
    assert headers["access-control-allow-origin"] == dashboard_origin
    assert "POST" in headers["access-control-allow-methods"]
    # AND refuses another origin, and another method from the dashboard
    assert _preflight(form.body["url"], "https://evil.example")[0] == 403
    assert _preflight(form.body["url"], dashboard_origin, method="PUT")[0] == 403
