"""The conversation in the browser: internal notes stay internal, replies are mailed, history, assignee."""

from __future__ import annotations

import email
import email.policy
import email.utils
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import RunningStack, http, wait_for
from tests.e2e.dashboard.conftest import Dashboard
from tests.e2e.dashboard.helpers import create, read, token, unique

pytestmark = pytest.mark.e2e


def _open_ticket(board: Dashboard, ticket_id: str) -> None:
    board.go(f"#/tickets/{ticket_id}")
    expect(board.page.locator(".details")).to_be_visible()


def _outbox_mail(
    stack: RunningStack, ticket_id: str, recipient: str, text: str
) -> email.message.EmailMessage | None:
    for path in sorted(Path(stack.info["outbox_dir"]).glob("*.eml")):
        raw = path.read_bytes()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        if (
            recipient in str(message.get("To", ""))
            and ticket_id in str(message.get("Subject", ""))
            and text in raw.decode(errors="replace")
        ):
            return message
    return None


def test_dashboard_internal_note_never_shows_to_the_customer(
    dashboard: Dashboard, second_dashboard: Dashboard, stack: RunningStack
) -> None:
    # GIVEN a ticket open on support's screen and on the customer's
    ticket = create(stack, type="question", title=unique("Is our backup encrypted"))
    second_dashboard.sign_in("customer")
    _open_ticket(second_dashboard, ticket["id"])
    dashboard.sign_in("support")
    _open_ticket(dashboard, ticket["id"])
    page = dashboard.page
    # WHEN support adds an internal note, then a public reply
    page.get_by_label("Message").fill("Internal: check with the storage team first.")
    page.get_by_role("button", name="Add internal note").click()
    conversation = page.get_by_role("list", name="Conversation")
    expect(conversation.locator("li.internal")).to_contain_text("Internal: check with the storage team first.")
    expect(conversation.locator("li.internal")).to_contain_text("Internal note")
    page.get_by_label("Message").fill("Yes: AES-256 at rest.")
    page.get_by_role("button", name="Reply").click()
    expect(conversation).to_contain_text("Yes: AES-256 at rest.")
    # THEN the customer's page shows the reply and never the note
    customer_view = second_dashboard.page.get_by_role("list", name="Conversation")
    expect(customer_view).to_contain_text("Yes: AES-256 at rest.")
    expect(second_dashboard.page.locator("main")).not_to_contain_text("storage team")
    # AND neither does the API for the customer, while staff see it marked internal
    customer_comments = read(stack, ticket["id"], role="customer")["comments"]
    assert [c["body"] for c in customer_comments] == ["Yes: AES-256 at rest."]
    staff_comments = read(stack, ticket["id"])["comments"]
    assert [(c["body"], c["visibility"]) for c in staff_comments] == [
        ("Internal: check with the storage team first.", "internal"),
        ("Yes: AES-256 at rest.", "public"),
    ]
    # AND a customer cannot post one
    refused = http(
        stack,
        "POST",
        f"/tickets/{ticket['id']}/comments",
        token=token(stack, "customer"),
        body={"body": "sneaky", "visibility": "internal"},
    )
    assert refused.status == 403


def test_dashboard_support_reply_is_mailed_to_the_requester(dashboard: Dashboard, stack: RunningStack) -> None:
    # GIVEN a customer's ticket on support's screen
    ticket = create(stack, type="question", title=unique("Where are the access logs"))
    dashboard.sign_in("support")
    _open_ticket(dashboard, ticket["id"])
    # WHEN support replies publicly, and adds an internal note
    dashboard.page.get_by_label("Message").fill("In the dashboard under Logs, Access.")
    dashboard.page.get_by_role("button", name="Reply").click()
    expect(dashboard.page.get_by_role("list", name="Conversation")).to_contain_text("under Logs, Access")
    dashboard.page.get_by_label("Message").fill("Note: customer asked twice before.")
    dashboard.page.get_by_role("button", name="Add internal note").click()
    expect(dashboard.page.get_by_role("list", name="Conversation")).to_contain_text("asked twice")
    # THEN the reply is in the outbox for the requester, threaded on the ticket; the note never is
    mail = wait_for(
        "the reply in the outbox",
        lambda: _outbox_mail(stack, ticket["id"], "alice@acme.example", "under Logs, Access"),
    )
    assert mail["Subject"] == f"Re: {ticket['title']} [#{ticket['id']}]"
    assert mail["In-Reply-To"] and mail["References"]
    assert email.utils.parseaddr(str(mail["From"]))[1].startswith("question@")
    assert _outbox_mail(stack, ticket["id"], "alice@acme.example", "asked twice") is None


def test_dashboard_ticket_history_shows_who_changed_what(dashboard: Dashboard, stack: RunningStack) -> None:
    # GIVEN a ticket that support acknowledged and raised
    ticket = create(stack, type="incident", title=unique("Slow admin pages"))
    assert http(stack, "POST", f"/tickets/{ticket['id']}/acknowledge", token=token(stack, "support")).status == 200
    version = read(stack, ticket["id"])["version"]
    raised = http(
        stack,
        "PATCH",
        f"/tickets/{ticket['id']}",
        token=token(stack, "support"),
        body={"priority": "high"},
        headers={"If-Match": str(version)},
    )
    assert raised.status == 200
    # WHEN the customer opens it
    dashboard.sign_in("customer")
    _open_ticket(dashboard, ticket["id"])
    # THEN the history lists both changes with who made them
    history = dashboard.page.get_by_role("region", name="History")
    expect(history).to_contain_text("Status")
    expect(history).to_contain_text("open → acknowledged")
    expect(history).to_contain_text("normal → high")
    expect(history).to_contain_text("oncall@support.example.com")


def test_dashboard_support_assigns_a_ticket(dashboard: Dashboard, stack: RunningStack) -> None:
    # GIVEN support on a ticket
    ticket = create(stack, type="question", title=unique("Assign me"))
    dashboard.sign_in("support")
    _open_ticket(dashboard, ticket["id"])
    page = dashboard.page
    # WHEN they assign it to themselves
    page.get_by_label("Assignee").fill("oncall@support.example.com")
    page.get_by_role("button", name="Save changes").click()
    # THEN the API has the assignee, and the queue shows it
    expect(page.locator(".details")).to_contain_text("oncall@support.example.com")
    assert read(stack, ticket["id"])["assignee"] == "oncall@support.example.com"
    page.get_by_role("link", name="Queue").first.click()
    row = page.locator(f"tr[data-id='{ticket['id']}']")
    expect(row.locator("td[data-label=Assignee]")).to_have_text("oncall@support.example.com")
    # WHEN they clear it THEN nobody is assigned
    _open_ticket(dashboard, ticket["id"])
    page.get_by_label("Assignee").fill("")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".details")).to_contain_text("nobody")
    assert read(stack, ticket["id"])["assignee"] is None
