"""Support staff's workspace in a real browser: the queue, a ticket's actions, triage, contacts, overview."""

from __future__ import annotations

import json
import smtplib
import uuid
from email.message import EmailMessage

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PageCollector, RunningStack, http, wait_for
from tests.e2e.dashboard.conftest import Dashboard
from tests.e2e.dashboard.helpers import create, read, token, unique

pytestmark = pytest.mark.e2e


def _open_ticket(board: Dashboard, ticket_id: str) -> None:
    board.go(f"#/tickets/{ticket_id}")
    expect(board.page.get_by_role("heading", level=1)).to_contain_text(ticket_id)
    expect(board.page.locator(".details")).to_be_visible()  # read: its controls hold the ticket's values


def test_dashboard_queue_puts_unacknowledged_urgent_incidents_first(
    dashboard: Dashboard, stack: RunningStack
) -> None:
    # GIVEN an urgent incident, then newer ordinary tickets
    urgent = create(stack, type="incident", priority="urgent", title=unique("Shop is down"))
    newer = create(stack, type="question", title=unique("Newer question"))
    # WHEN support opens the queue
    dashboard.sign_in("support")
    page = dashboard.page
    # THEN the very first ticket row is an unacknowledged urgent incident, the urgent one among them
    urgent_section = page.get_by_role("region", name="Urgent incidents not acknowledged")
    expect(urgent_section.locator(f"tr[data-id='{urgent['id']}']")).to_contain_text(urgent["title"])
    first_row = page.locator("main table tbody tr").first
    first_id = first_row.get_attribute("data-id")
    assert first_id and first_id.startswith("INC-")
    assert read(stack, first_id)["priority"] == "urgent"
    assert read(stack, first_id)["status"] == "open"
    # AND ordinary tickets follow in the list of all tickets, not above
    everything = page.get_by_role("region", name="All tickets")
    expect(everything.locator(f"tr[data-id='{newer['id']}']")).to_contain_text(newer["title"])
    expect(everything.locator(f"tr[data-id='{urgent['id']}']")).to_have_count(0)
    expect(urgent_section.locator("td[data-label=Age]").first).to_contain_text("min")
    dashboard.shot("support-queue")


def test_dashboard_support_acknowledges_then_resolves_and_the_api_shows_it(
    dashboard: Dashboard, stack: RunningStack
) -> None:
    # GIVEN an urgent incident in the queue
    ticket = create(stack, type="incident", priority="urgent", title=unique("Payment page down"))
    dashboard.sign_in("support")
    page = dashboard.page
    # WHEN support opens it from the queue and presses Acknowledge
    page.get_by_role("region", name="Urgent incidents not acknowledged").get_by_role(
        "link", name=ticket["id"]
    ).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(ticket["title"])
    dashboard.shot("support-ticket")
    page.get_by_role("button", name="Acknowledge").click()
    # THEN the API shows it acknowledged by them, and the page says so
    expect(page.locator(".badges")).to_contain_text("Acknowledged")
    acknowledged = read(stack, ticket["id"])
    assert acknowledged["status"] == "acknowledged"
    assert acknowledged["acknowledged_at"]
    expect(page.get_by_role("button", name="Acknowledge")).to_be_hidden()
    # WHEN they resolve it
    page.get_by_role("button", name="Resolve").click()
    # THEN it is resolved in the API, and it can be reopened
    expect(page.locator(".badges")).to_contain_text("Resolved")
    assert read(stack, ticket["id"])["status"] == "resolved"
    expect(page.get_by_role("button", name="Reopen")).to_be_visible()
    # AND it has left the queue's urgent section
    page.get_by_role("link", name="Queue").first.click()
    expect(
        page.get_by_role("region", name="Urgent incidents not acknowledged").locator(
            f"tr[data-id='{ticket['id']}']"
        )
    ).to_have_count(0)


def test_dashboard_support_replies_and_the_customer_sees_it(
    dashboard: Dashboard, second_dashboard: Dashboard, stack: RunningStack
) -> None:
    # GIVEN a customer's question, open on the customer's screen and on support's
    ticket = create(stack, type="question", title=unique("How do I rotate my API key"))
    second_dashboard.sign_in("customer")
    _open_ticket(second_dashboard, ticket["id"])
    dashboard.sign_in("support")
    _open_ticket(dashboard, ticket["id"])
    page = dashboard.page
    # WHEN support writes an answer and presses Reply
    page.get_by_label("Message").fill("Settings, API keys, Rotate. The old key works for 24 hours.")
    page.get_by_role("button", name="Reply").click()
    # THEN the API has it as a staff comment, and the customer's page shows it without a reload
    expect(page.get_by_role("list", name="Conversation")).to_contain_text("Settings, API keys, Rotate.")
    comments = read(stack, ticket["id"])["comments"]
    assert [(c["body"], c["is_support"]) for c in comments] == [
        ("Settings, API keys, Rotate. The old key works for 24 hours.", True)
    ]
    expect(second_dashboard.page.get_by_role("list", name="Conversation")).to_contain_text(
        "Settings, API keys, Rotate."
    )
    dashboard.shot("support-ticket-replied")


def test_dashboard_support_changes_priority_and_type(dashboard: Dashboard, stack: RunningStack) -> None:
    # GIVEN a question that is really a problem
    ticket = create(stack, type="question", title=unique("Why do our builds time out every Monday"))
    dashboard.sign_in("support")
    _open_ticket(dashboard, ticket["id"])
    page = dashboard.page
    # WHEN support changes its type and priority
    page.get_by_label("Type").select_option("problem")
    page.get_by_label("Priority").select_option("high")
    page.get_by_role("button", name="Save changes").click()
    # THEN the API has both changes
    expect(page.locator(".badges")).to_contain_text("Problem")
    changed = read(stack, ticket["id"])
    assert (changed["type"], changed["priority"]) == ("problem", "high")
    # WHEN they make it urgent, which only incidents may be
    page.get_by_label("Priority").select_option("urgent")
    page.get_by_role("button", name="Save changes").click()
    # THEN the API's reason is shown next to Priority and nothing changed
    expect(page.locator("#change-priority-error")).to_contain_text("only incidents can be urgent")
    assert read(stack, ticket["id"])["priority"] == "high"


def _mail_from_a_stranger(stack: RunningStack, subject: str) -> None:
    message = EmailMessage()
    message["From"] = "Someone <someone@unknown-sender.example>"
    message["To"] = f"question@{stack.info['support_domain']}"
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@unknown-sender.example>"
    message.set_content("Hello, we are customers of yours: can we get access to the staging logs?")
    with smtplib.SMTP(stack.info["smtp_host"], stack.info["smtp_port"], timeout=30) as smtp:
        smtp.send_message(message)


def test_dashboard_support_moves_a_triage_ticket_to_a_tenant(
    dashboard: Dashboard, second_dashboard: Dashboard, stack: RunningStack
) -> None:
    # GIVEN mail from an unknown sender, parked in the triage tenant
    subject = unique("Access to staging logs")
    _mail_from_a_stranger(stack, subject)

    def triage_ticket() -> dict[str, object] | None:
        listed = http(stack, "GET", "/tickets?tenant=unassigned&limit=100", token=token(stack, "support"))
        return next((t for t in listed.body["items"] if t["title"] == subject), None)

    ticket = wait_for("the triage ticket", triage_ticket)
    dashboard.sign_in("support")
    page = dashboard.page
    # WHEN support finds it by the triage tenant, opens it and moves it to acme
    page.get_by_label("Tenant").fill("unassigned")
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("region", name="All tickets").get_by_role("link", name=str(ticket["id"])).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(subject)
    dashboard.shot("support-triage")
    page.get_by_label("Tenant").fill("acme")
    page.get_by_role("button", name="Move").click()
    # THEN the API has it in acme, and the customer of acme sees it
    expect(page.locator(".details")).to_contain_text("acme")
    assert read(stack, str(ticket["id"]))["tenant"] == "acme"
    expect(page.get_by_label("Tenant")).to_be_hidden()
    second_dashboard.sign_in("customer")
    expect(second_dashboard.page.locator("table.tickets")).to_contain_text(subject)


def test_dashboard_support_manages_contacts(dashboard: Dashboard, stack: RunningStack) -> None:
    # GIVEN support on the contacts page
    domain = f"newco-{uuid.uuid4().hex[:6]}.example"
    dashboard.sign_in("support")
    page = dashboard.page
    page.get_by_role("link", name="Contacts").click()
    expect(page.get_by_role("heading", level=1, name="Contacts")).to_be_visible()
    expect(page.locator("main table")).to_contain_text("acme.example")
    # WHEN they add an address that is none
    page.get_by_label("Address").fill("not an address")
    page.get_by_label("Tenant").fill("newco")
    page.get_by_role("button", name="Add contact").click()
    # THEN the API's reason is next to Address
    expect(page.locator("#contact-address-error")).not_to_be_empty()
    expect(page.get_by_label("Address")).to_have_attribute("aria-invalid", "true")
    # WHEN they add a domain for tenant newco
    page.get_by_label("Address").fill(domain)
    page.get_by_label("Name").fill("NewCo")
    page.get_by_role("button", name="Add contact").click()
    # THEN it is listed, and the API has it
    expect(page.locator("main table")).to_contain_text(domain)
    listed = http(stack, "GET", "/contacts", token=token(stack, "support")).body["items"]
    assert {"address": domain, "tenant": "newco"}.items() <= next(
        c for c in listed if c["address"] == domain
    ).items()
    dashboard.shot("support-contacts")
    # WHEN they remove it
    page.get_by_role("button", name=f"Remove {domain}").click()
    # THEN it is gone, from the page and from the API
    expect(page.locator("main")).not_to_contain_text(domain)
    listed = http(stack, "GET", "/contacts", token=token(stack, "support")).body["items"]
    assert all(c["address"] != domain for c in listed)


def test_dashboard_overview_charts_count_what_the_api_lists(dashboard: Dashboard, stack: RunningStack) -> None:
    # GIVEN an open urgent incident and an acknowledged ticket today
    create(stack, type="incident", priority="urgent", title=unique("Overview: site down"))
    acked = create(
        stack,
        type="task",
        title=unique("Overview: a task"),
        description="Rotate the TLS certificate of www.acme.example in production by tomorrow evening.",
    )
    assert http(stack, "POST", f"/tickets/{acked['id']}/acknowledge", token=token(stack, "support")).status == 200
    # WHEN support opens the overview
    dashboard.sign_in("support")
    dashboard.page.get_by_role("link", name="Overview").click()
    page = dashboard.page
    # THEN the number of open urgent incidents is the API's
    expect(page.locator("[data-metric=open-urgent]")).to_be_visible()
    open_urgent = http(
        stack, "GET", "/tickets?type=incident&priority=urgent&status=open&limit=100", token=token(stack, "support")
    ).body["items"]
    expect(page.locator("[data-metric=open-urgent]")).to_have_text(str(len(open_urgent)))
    # AND the charts are pictures with their numbers in words
    per_day = page.get_by_role("img", name="Tickets per day by type")
    expect(per_day).to_be_visible()
    assert "Task" in (per_day.get_attribute("aria-label") or "")
    assert page.locator("svg.chart rect.s-task").count() >= 1
    expect(page.locator("[data-metric=ack-median]")).to_contain_text("Median")
    dashboard.shot("support-overview")


def test_dashboard_ticket_link_in_a_page_opens_the_ticket_after_sign_in(
    dashboard: Dashboard, stack: RunningStack, pages: PageCollector
) -> None:
    # GIVEN an urgent incident whose page reached the pager queue
    ticket = create(stack, type="incident", priority="urgent", title=unique("Storefront down"))
    [page_sent] = wait_for("the page", lambda: pages.for_ticket(ticket["id"]), timeout=30)
    link = json.loads(page_sent["Message"])["link"]
    # THEN its ticket link points at this stack's dashboard, not at a placeholder domain
    assert link == f"{stack.api_url}/tickets/{ticket['id']}"
    # AND a script reading that URL without a token still gets the API's answer, not the page
    assert http(stack, "GET", f"/tickets/{ticket['id']}").status == 401
    # WHEN the on-call engineer opens the link in a browser and signs in
    page = dashboard.page
    page.goto(link)
    page.get_by_role("button", name="Sign in as support").click()
    # THEN the ticket itself is on the screen
    expect(page.get_by_role("heading", level=1)).to_contain_text(ticket["id"])
    expect(page.locator(".details")).to_be_visible()
    expect(page.get_by_text(ticket["title"]).first).to_be_visible()
