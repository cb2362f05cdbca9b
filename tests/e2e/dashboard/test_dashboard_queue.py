"""Support staff's queue in a real browser: ids on one line, due times, breaches, the SLA filters."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Locator, expect

from tests.e2e.conftest import RunningStack, http
from tests.e2e.dashboard.conftest import Dashboard
from tests.e2e.dashboard.helpers import create, read, token, unique

pytestmark = pytest.mark.e2e

LONG_TITLE = "Checkout-and-payment-pages-return-502-for-every-customer-in-every-single-region-since-the-deploy-of-the-new-payment-service"
LONG_ASSIGNEE = "first-line-engineer-on-call-this-week@support.example.com"


def _assign(stack: RunningStack, ticket_id: str, assignee: str) -> dict[str, Any]:
    version = read(stack, ticket_id)["version"]
    changed = http(
        stack,
        "PATCH",
        f"/tickets/{ticket_id}",
        token=token(stack, "support"),
        body={"assignee": assignee},
        headers={"If-Match": str(version)},
    )
    assert changed.status == 200, changed.body
    return dict(changed.body)


def _lines(link: Locator) -> int:
    """How many lines the browser laid the link's text out on."""
    return int(link.evaluate("(a) => a.getClientRects().length"))


@pytest.mark.parametrize("width", [1280, 900, 375])
def test_dashboard_queue_keeps_ticket_ids_on_one_line(
    dashboard: Dashboard, stack: RunningStack, width: int
) -> None:
    # GIVEN tickets whose other columns push hard on the id's: a long unbroken title, a long assignee
    ticket = create(stack, type="question", title=unique(LONG_TITLE.strip()))
    _assign(stack, ticket["id"], LONG_ASSIGNEE)
    # WHEN support looks at the queue at this width
    dashboard.page.set_viewport_size({"width": width, "height": 900})
    dashboard.sign_in("support")
    row = dashboard.page.locator(f"tr[data-id='{ticket['id']}']")
    expect(row).to_be_visible()
    # THEN every ticket id in the queue is on one line, and shown whole
    links = dashboard.page.locator("main td[data-label=Ticket] a")
    assert links.count() >= 1
    for i in range(links.count()):
        link = links.nth(i)
        text = link.inner_text()
        assert _lines(link) == 1, f"{text} wraps at {width}px"
        assert link.evaluate("(a) => a.scrollWidth <= a.clientWidth + 1"), f"{text} is cut at {width}px"
    # AND the full id is its accessible name and its title
    link = row.get_by_role("link", name=ticket["id"], exact=True)
    expect(link).to_have_attribute("title", ticket["id"])
    dashboard.shot(f"queue-ids-{width}px")
