"""Support staff's queue in a real browser: ids on one line, due times, breaches, the SLA filters."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Locator, expect

from tests.e2e.conftest import RunningStack, http, wait_for
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


# --- response targets --------------------------------------------------------------------------
# These need the API to report targets on every ticket (`response_due_at`, `resolution_due_at`,
# `breached`) and to list `?sla=breached` / `?sla=due_soon`; against an API without them they fail
# on their first check, saying so.

NO_TARGETS = "the API reports no response targets on tickets (response_due_at / breached)"


def _with_targets(stack: RunningStack, ticket_id: str) -> dict[str, Any]:
    ticket = read(stack, ticket_id)
    assert "response_due_at" in ticket and "breached" in ticket, NO_TARGETS
    return ticket


def _due_key(ticket: dict[str, Any]) -> float:
    """What the queue orders by: the response due while one is awaited; none (last) otherwise."""
    at = ticket.get("response_due_at")
    if not at or ticket.get("first_response_at") or ticket["status"] in ("resolved", "closed"):
        return float("inf")
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


def _listed(stack: RunningStack, sla: str) -> list[dict[str, Any]]:
    got = http(stack, "GET", f"/tickets?sla={sla}&limit=50", token=token(stack, "support"))
    assert got.status == 200, got.body
    return list(got.body["items"])


def _backdate_response_due(stack: RunningStack, ticket_id: str, minutes: int) -> None:
    """Move a ticket's response target into the past in the table: a real one takes minutes or hours."""
    past = (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat(timespec="milliseconds")
    stack.client("dynamodb").update_item(
        TableName=stack.info["table_name"],
        Key={"pk": {"S": f"TICKET#{ticket_id}"}, "sk": {"S": "TICKET"}},
        UpdateExpression="SET response_due_at = :past",
        ExpressionAttributeValues={":past": {"S": past.replace("+00:00", "Z")}},
        ConditionExpression="attribute_exists(pk)",
    )


def test_dashboard_queue_shows_due_times_and_orders_by_response_due(
    dashboard: Dashboard, stack: RunningStack
) -> None:
    # GIVEN an unacknowledged urgent incident, and tickets of other priorities and types after it
    urgent = create(stack, type="incident", priority="urgent", title=unique("Due: shop down"))
    others = [
        create(stack, type="question", priority="low", title=unique("Due: a low question")),
        create(stack, type="incident", priority="high", title=unique("Due: slow search")),
        create(stack, type="question", priority="normal", title=unique("Due: a normal question")),
    ]
    seeded = {t["id"]: _with_targets(stack, t["id"]) for t in others}
    # WHEN support opens the queue
    dashboard.sign_in("support")
    page = dashboard.page
    # THEN the urgent incident is on top, in its own section, with its response due
    urgent_row = page.get_by_role("region", name="Urgent incidents not acknowledged").locator(
        f"tr[data-id='{urgent['id']}']"
    )
    expect(urgent_row).to_be_visible()
    first_row = page.locator("main table tbody tr").first
    assert read(stack, str(first_row.get_attribute("data-id")))["priority"] == "urgent"
    # AND every seeded ticket shows when its response is due: relative, the exact time in its title
    for ticket_id, ticket in seeded.items():
        cell = page.locator(f"tr[data-id='{ticket_id}'] td[data-label=Due]")
        if _due_key(ticket) == float("inf"):
            continue
        expect(cell).to_have_text(re.compile(r"^(in \d+ (min|h|d)|in under 1 min|overdue \d+ (min|h|d))"))
        expect(cell.locator("time")).to_have_attribute("title", re.compile(r"^Response due "))
        expect(cell.locator("time")).to_have_attribute("datetime", str(ticket["response_due_at"]))
    # AND the tickets follow by response due, earliest first, those with none due last
    everything = page.get_by_role("region", name="All tickets")
    order = [
        i
        for i in everything.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
        if i in seeded
    ]
    assert len(order) == len(seeded)
    keys = [_due_key(seeded[i]) for i in order]
    assert keys == sorted(keys), f"page order {order} is not by response due {keys}"
    assert any(k != float("inf") for k in keys), "no seeded ticket has a response target"
    dashboard.shot("queue-due")


def test_dashboard_queue_marks_breached_tickets_and_filters_by_targets(
    dashboard: Dashboard, stack: RunningStack
) -> None:
    # GIVEN a ticket whose response target has passed with no answer, and one due later
    late = create(stack, type="incident", priority="high", title=unique("Breached: no answer"))
    _with_targets(stack, late["id"])
    _backdate_response_due(stack, late["id"], minutes=30)
    # (the desk notices a target passed on its own: the change re-plans the ticket's timers, and one
    # already past fires at once)
    wait_for(
        "the API to report the missed response target",
        lambda: read(stack, late["id"])["breached"] == ["response"],
        timeout=60,
    )
    # WHEN support opens the queue
    dashboard.sign_in("support")
    page = dashboard.page
    row = page.locator(f"tr[data-id='{late['id']}']")
    # THEN the ticket carries a visible Breached marker and says how overdue it is
    expect(row.locator("td[data-label=Due]")).to_contain_text("Breached: response")
    expect(row.locator("td[data-label=Due]")).to_contain_text(re.compile(r"overdue (29|30|31) min"))
    # WHEN they filter the queue to breached tickets
    page.get_by_label("Targets").select_option(label="Breached")
    # THEN the page asks the API with sla=breached, and shows exactly what it lists (urgent ones on top)
    expect(page.get_by_role("table", name=re.compile("breached"))).to_be_visible()
    assert dashboard.api_calls("GET", r"/tickets\?.*sla=breached")
    urgent_ids = set(page.locator(".urgent-queue tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)"))
    shown = page.locator("section[aria-labelledby=all-heading] tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)"
    )
    assert late["id"] in shown
    assert set(shown) == {t["id"] for t in _listed(stack, "breached")} - urgent_ids
    expect(
        page.locator("section[aria-labelledby=all-heading] tbody tr").filter(has_text="Breached")
    ).to_have_count(len(shown))
    dashboard.shot("queue-breached")
    # WHEN they filter to responses due soon THEN the page shows what the API lists as due soon
    page.get_by_label("Targets").select_option(label="Due soon")
    expect(
        page.get_by_role("table", name=re.compile("due soon")).or_(page.get_by_text("No response is due soon."))
    ).to_be_visible()
    assert dashboard.api_calls("GET", r"/tickets\?.*sla=due_soon")
    shown = page.locator("section[aria-labelledby=all-heading] tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)"
    )
    assert set(shown) == {t["id"] for t in _listed(stack, "due_soon")} - urgent_ids
    # AND the overview counts the API's breached tickets
    page.get_by_role("link", name="Overview").click()
    breached = _listed(stack, "breached")
    expect(page.locator("[data-metric=breached]")).to_have_text(re.compile(rf"^{len(breached)}\+?$"))
    expect(page.get_by_role("img", name=re.compile("^Breaches"))).to_be_visible()
    dashboard.shot("overview-breaches")


def test_dashboard_queue_target_filter_is_labelled_keyboard_usable_and_asks_the_api(
    dashboard: Dashboard, stack: RunningStack
) -> None:
    # GIVEN support on the queue
    dashboard.sign_in("support")
    page = dashboard.page
    targets = page.get_by_label("Targets")
    # THEN the filter offers breached and due-soon tickets
    assert targets.locator("option").all_inner_texts() == ["All tickets", "Breached", "Due soon"]
    # WHEN, once the queue has loaded, they choose "Breached" with the keyboard alone
    page.wait_for_function("() => !document.querySelector('main [aria-busy=true]')")
    targets.focus()
    expect(targets).to_be_focused()
    page.keyboard.press("ArrowDown")
    # THEN the page asks the API for the breached tickets, and says what it found
    expect(targets).to_have_value("breached")
    page.wait_for_function("() => !document.querySelector('main [aria-busy=true]')")
    expect(
        page.get_by_role("table", name=re.compile("breached"))
        .or_(page.get_by_text("No ticket has missed a target."))
        .or_(page.get_by_text("Response targets are not reported by this API yet."))
    ).to_be_visible()
    assert dashboard.api_calls("GET", r"/tickets\?.*sla=breached")
