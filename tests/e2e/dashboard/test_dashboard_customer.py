"""The customer's dashboard in a real browser: the Support form, the tenant's tickets, a ticket page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PageCollector, RunningStack, http, wait_for
from tests.e2e.dashboard.conftest import Dashboard
from tests.e2e.dashboard.helpers import create, read, token, unique

pytestmark = pytest.mark.e2e

PAGE_TIMEOUT = 30.0


def _choose(board: Dashboard, type_name: str) -> None:
    board.page.get_by_role("button", name="Support", exact=True).click()
    board.page.get_by_role("heading", level=1, name="Get support").wait_for()
    board.page.get_by_role("radio", name=type_name, exact=True).check()


def test_dashboard_customer_files_urgent_incident_from_form_it_reaches_pager_queue(
    dashboard: Dashboard, stack: RunningStack, pages: PageCollector
) -> None:
    # GIVEN the customer signed in, on the first screen
    dashboard.open()
    dashboard.shot("sign-in")
    dashboard.sign_in("customer")
    dashboard.shot("customer-tickets")
    page = dashboard.page
    # WHEN they press Support, the chooser explains the four types in the support guide's words
    page.get_by_role("button", name="Support", exact=True).click()
    chooser = page.get_by_role("radiogroup", name="Type")
    expect(chooser.get_by_role("radio")).to_have_count(4)
    for name in ("Incident", "Problem", "Task", "Question"):
        expect(chooser.get_by_role("radio", name=name, exact=True)).to_be_visible()
    expect(chooser).to_contain_text("Something is not working")
    expect(chooser).to_contain_text("site is down")
    expect(chooser).to_contain_text("The cause behind incidents")
    expect(chooser).to_contain_text("Tasks must be well described")
    dashboard.shot("support-chooser")
    # AND they file an urgent incident: site down
    title = unique("Checkout returns 502")
    page.get_by_role("radio", name="Incident", exact=True).check()
    page.get_by_label("Priority").select_option(label="Urgent: my site is down")
    page.get_by_label("Environment").fill("www.acme.example")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Description").fill("Every checkout returns 502 since 18:20 UTC.")
    dashboard.shot("support-form-incident")
    page.get_by_role("button", name="Submit").click()
    # THEN the page shows the new ticket's id and the ticket
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(title)
    ticket_id = re.match(r"(INC-[0-9A-Z]{6}): ", heading.inner_text())
    assert ticket_id, heading.inner_text()
    expect(page.get_by_role("status").first).to_contain_text(f"Ticket {ticket_id.group(1)} is open")
    expect(page.locator(".badges")).to_contain_text("Urgent")
    dashboard.shot("ticket-created")
    # AND the API has it, urgent, and on-call is paged for it
    ticket = read(stack, ticket_id.group(1))
    assert (ticket["type"], ticket["priority"], ticket["title"]) == ("incident", "urgent", title)
    found = wait_for("the page", lambda: pages.for_ticket(ticket_id.group(1)), timeout=PAGE_TIMEOUT)
    assert title in found[0]["Subject"]


def test_dashboard_support_form_adapts_to_each_type(dashboard: Dashboard) -> None:
    # GIVEN the customer on the Support form
    dashboard.sign_in("customer")
    page = dashboard.page
    priority, environment, related = (
        page.get_by_label("Priority"),
        page.get_by_label("Environment"),
        page.get_by_label("Related"),
    )
    urgent = page.locator("#priority option[value=urgent]")
    # WHEN they choose an incident THEN it asks for the environment and offers "Urgent: my site is down"
    _choose(dashboard, "Incident")
    expect(environment).to_be_visible()
    expect(urgent).to_have_text("Urgent: my site is down")
    expect(related).to_be_hidden()
    # WHEN a problem THEN it links incidents, and only incidents can be urgent
    page.get_by_role("radio", name="Problem", exact=True).check()
    expect(related).to_be_visible()
    expect(environment).to_be_hidden()
    expect(urgent).to_have_count(0)
    expect(priority).to_be_visible()
    dashboard.shot("support-form-problem")
    # WHEN a task THEN it says what a well-described task needs
    page.get_by_role("radio", name="Task", exact=True).check()
    expect(page.locator("#description-hint")).to_contain_text(
        "what should be done, on which site or environment, and by when"
    )
    expect(related).to_be_hidden()
    dashboard.shot("support-form-task")
    # WHEN a question THEN only the title and description remain besides the priority
    page.get_by_role("radio", name="Question", exact=True).check()
    expect(environment).to_be_hidden()
    expect(related).to_be_hidden()
    expect(page.get_by_label("Title")).to_be_visible()
    expect(page.get_by_label("Description")).to_be_visible()
    dashboard.shot("support-form-question")


def test_dashboard_task_rule_error_shows_next_to_description_before_anything_is_sent(
    dashboard: Dashboard, stack: RunningStack
) -> None:
    # GIVEN the customer filling in a task that says too little
    dashboard.sign_in("customer")
    _choose(dashboard, "Task")
    page = dashboard.page
    page.get_by_label("Title").fill(unique("New SFTP user"))
    page.get_by_label("Description").fill("Please add a user")
    # WHEN they submit
    page.get_by_role("button", name="Submit").click()
    # THEN the API's own reason stands next to the Description, and no ticket was sent
    api_answer = http(
        stack,
        "POST",
        "/tickets",
        token=token(stack, "customer"),
        body={"type": "task", "title": "New SFTP user", "description": "Please add a user"},
    )
    assert api_answer.status == 422
    reason = api_answer.body["errors"][0]["reason"]
    error = page.locator("#description-error")
    expect(error).to_have_text(reason)
    expect(page.get_by_label("Description")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Description")).to_be_focused()
    assert dashboard.api_calls("POST", r"/tickets$") == []
    dashboard.shot("support-form-task-rule")
    # AND once well described, it is sent and accepted
    page.get_by_label("Description").fill(
        "Create an SFTP user deploy-bot on www.acme.example production, read-only on /var/www, by Friday noon."
    )
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("New SFTP user")


@pytest.mark.parametrize(
    "description",
    [
        "one two three four five six seven eightnineteneleven",  # 7 words, enough characters
        "a b c d e f g h",  # 8 words, too few characters
        "a b c d e f g hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh",  # 8 words, 48 characters
        "   spaces   around   do   not   count   as   characters   ",
        "Zugang für Jürgen zur Datenbank prod-db ab Montag früh bitte",
    ],
)
def test_dashboard_task_rule_gives_the_api_verdict(
    dashboard: Dashboard, stack: RunningStack, description: str
) -> None:
    # GIVEN the page's copy of the task rule and the API
    dashboard.sign_in("customer")
    # WHEN both judge the same description
    in_page = dashboard.page.evaluate(
        "async (text) => (await import('/js/guide.js')).taskDescriptionProblem(text)", description
    )
    api_answer = http(
        stack,
        "POST",
        "/tickets",
        token=token(stack, "customer"),
        body={"type": "task", "title": unique("Rule check"), "description": description},
    )
    # THEN they agree, in the same words
    if api_answer.status == 201:
        assert in_page is None
    else:
        assert api_answer.status == 422, api_answer.body
        assert in_page == api_answer.body["errors"][0]["reason"]


def test_dashboard_api_errors_show_next_to_their_fields(dashboard: Dashboard) -> None:
    # GIVEN a problem that links something that is no ticket id (only the API knows ids)
    dashboard.sign_in("customer")
    _choose(dashboard, "Problem")
    page = dashboard.page
    page.get_by_label("Title").fill(unique("Memory leak in the image resizer"))
    page.get_by_label("Description").fill("The resizer grows until it is killed; it causes the 502s.")
    page.get_by_label("Related").fill("nonsense")
    # WHEN they submit
    page.get_by_role("button", name="Submit").click()
    # THEN the API's error stands next to Related
    expect(page.locator("#related-error")).to_contain_text("'nonsense' is not a ticket id")
    expect(page.get_by_label("Related")).to_have_attribute("aria-invalid", "true")
    assert len(dashboard.api_calls("POST", r"/tickets$")) == 1


def test_dashboard_problem_links_recent_incidents(dashboard: Dashboard, stack: RunningStack) -> None:
    # GIVEN an incident of the tenant
    incident = create(stack, type="incident", title=unique("Intermittent 502"))
    dashboard.sign_in("customer")
    _choose(dashboard, "Problem")
    page = dashboard.page
    # WHEN the customer ticks it among the recent incidents and submits the problem
    page.get_by_label(re.compile(f"^{incident['id']}: ")).check()
    expect(page.get_by_label("Related")).to_have_value(incident["id"])
    page.get_by_label("Title").fill(unique("Resizer leaks memory"))
    page.get_by_label("Description").fill("The image resizer leaks memory and is killed, hence the 502s.")
    page.get_by_role("button", name="Submit").click()
    # THEN the problem links the incident
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Resizer leaks memory")
    problem_id = heading.inner_text().split(":")[0]
    assert read(stack, problem_id)["related"] == [incident["id"]]
    expect(page.locator(".details")).to_contain_text(incident["id"])


def test_dashboard_ticket_list_filters_by_type_and_status(dashboard: Dashboard, stack: RunningStack) -> None:
    # GIVEN a task and a question of the tenant, the question acknowledged by support
    task = create(
        stack,
        type="task",
        title=unique("Provision a staging database"),
        description="Provision a PostgreSQL 16 database for staging.acme.example before the end of next week.",
    )
    question = create(stack, type="question", title=unique("Which PHP versions"))
    acked = http(stack, "POST", f"/tickets/{question['id']}/acknowledge", token=token(stack, "support"))
    assert acked.status == 200
    dashboard.sign_in("customer")
    page = dashboard.page
    rows = page.locator("table.tickets tbody tr")
    expect(rows.filter(has_text=task["title"])).to_have_count(1)
    expect(rows.filter(has_text=question["title"])).to_have_count(1)
    # WHEN they filter by type Task
    page.get_by_label("Type").select_option("task")
    # THEN the task shows and the question does not
    expect(rows.filter(has_text=question["title"])).to_have_count(0)
    expect(rows.filter(has_text=task["title"])).to_have_count(1)
    expect(rows.locator("td[data-label=Type]")).not_to_contain_text(["Question"])
    dashboard.shot("customer-tickets-filtered")
    # WHEN they filter by status Acknowledged, any type
    page.get_by_label("Type").select_option("")
    page.get_by_label("Status").select_option("acknowledged")
    # THEN the acknowledged question shows and the open task does not
    expect(rows.filter(has_text=question["title"])).to_have_count(1)
    expect(rows.filter(has_text=task["title"])).to_have_count(0)


def test_dashboard_customer_replies_and_sees_status_change_without_reloading(
    dashboard: Dashboard, stack: RunningStack
) -> None:
    # GIVEN the customer on the page of one of their tickets
    ticket = create(stack, type="question", title=unique("Can we get a second SFTP account"))
    dashboard.sign_in("customer")
    page = dashboard.page
    page.get_by_role("link", name=ticket["id"]).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(ticket["title"])
    page.evaluate("window.__stillTheSamePage = true")
    # WHEN they send a reply
    page.get_by_label("Message").fill("Also: can it be read-only?")
    page.get_by_role("button", name="Send").click()
    # THEN it is in the conversation and on the ticket in the API
    conversation = page.get_by_role("list", name="Conversation")
    expect(conversation).to_contain_text("Also: can it be read-only?")
    expect(page.get_by_label("Message")).to_have_value("")
    assert [c["body"] for c in read(stack, ticket["id"])["comments"]] == ["Also: can it be read-only?"]
    # WHEN support acknowledges it and answers elsewhere
    assert http(stack, "POST", f"/tickets/{ticket['id']}/acknowledge", token=token(stack, "support")).status == 200
    answered = http(
        stack,
        "POST",
        f"/tickets/{ticket['id']}/comments",
        token=token(stack, "support"),
        body={"body": "Yes, on it."},
    )
    assert answered.status == 201
    # THEN the page shows the new status and the answer by itself, without a reload
    expect(page.locator(".badges")).to_contain_text("Acknowledged")
    expect(conversation).to_contain_text("Yes, on it.")
    expect(conversation.locator("li.staff")).to_contain_text("(support)")
    assert page.evaluate("window.__stillTheSamePage === true")
    # AND a customer never gets staff controls
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(page.get_by_role("button", name="Add internal note")).to_have_count(0)
    dashboard.shot("customer-ticket-conversation")


HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def test_dashboard_hostile_title_renders_as_text(
    dashboard: Dashboard, second_dashboard: Dashboard, stack: RunningStack
) -> None:
    # GIVEN a ticket whose title and description are markup
    ticket = create(
        stack,
        type="question",
        title=HOSTILE,
        description=f"{HOSTILE}\n<b>bold?</b> <a href=javascript:alert(3)>x</a>",
    )
    # WHEN the customer sees it in the list and on its page
    dashboard.sign_in("customer")
    page = dashboard.page
    row = page.locator("table.tickets tbody tr", has=page.get_by_role("link", name=ticket["id"]))
    expect(row).to_contain_text(HOSTILE)
    row.get_by_role("link", name=ticket["id"]).click()
    # THEN those very characters are shown, and nothing of them runs or renders
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{ticket['id']}: {HOSTILE}")
    expect(page.locator(".text").first).to_contain_text("<b>bold?</b> <a href=javascript:alert(3)>x</a>")
    assert page.locator("main img, main script, main b").count() == 0
    dashboard.shot("hostile-title-customer")
    # AND the same in the support queue
    second_dashboard.sign_in("support")
    expect(second_dashboard.page.locator("main")).to_contain_text(HOSTILE)
    assert second_dashboard.page.locator("main img, main script").count() == 0
    page.wait_for_timeout(500)
    assert dashboard.dialogs == [] and second_dashboard.dialogs == []


def test_dashboard_works_on_a_phone(phone: Dashboard, stack: RunningStack) -> None:
    # GIVEN a phone-sized screen
    phone.sign_in("customer")
    page = phone.page

    def fits() -> bool:
        return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))

    assert fits()
    phone.shot("phone-tickets")
    # WHEN the customer files a question from it
    _choose(phone, "Question")
    assert fits()
    phone.shot("phone-support-form")
    title = unique("Is HTTP/3 enabled on our CDN")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Description").fill("We would like to know whether HTTP/3 is on.")
    page.get_by_role("button", name="Submit").click()
    # THEN the ticket page fits the screen too, and the list shows the ticket as a card
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)
    assert fits()
    phone.shot("phone-ticket")
    page.get_by_role("link", name="Tickets", exact=True).click()
    row = page.locator("table.tickets tbody tr").filter(has_text=title)
    expect(row).to_be_visible()
    assert fits()
    box = row.bounding_box()
    assert box is not None and box["width"] <= 375


def test_dashboard_works_with_the_keyboard_only(dashboard: Dashboard, stack: RunningStack) -> None:
    # GIVEN the first screen and only a keyboard
    dashboard.open()
    page = dashboard.page
    keyboard = page.keyboard

    def tab_to(name: str, limit: int = 40) -> None:
        for _ in range(limit):
            keyboard.press("Tab")
            focused = page.evaluate(
                "document.activeElement && (document.activeElement.labels?.[0]?.innerText || document.activeElement.innerText || '')"
            )
            if focused.strip() == name:
                # THEN what has focus shows it
                assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
                return
        raise AssertionError(f"Tab never reached {name!r}")

    # WHEN they sign in, open Support and file a question with Tab, Space, typing and Enter
    tab_to("Sign in as customer")
    keyboard.press("Enter")
    page.get_by_role("heading", level=1, name="Your tickets").wait_for()
    tab_to("Support")
    keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Get support")).to_be_focused()
    tab_to("Incident")
    keyboard.press("ArrowDown")
    keyboard.press("ArrowDown")
    keyboard.press("ArrowDown")
    expect(page.get_by_role("radio", name="Question", exact=True)).to_be_checked()
    title = unique("Keyboard question")
    tab_to("Priority")
    tab_to("Title")
    keyboard.type(title)
    tab_to("Description")
    keyboard.type("Does the dashboard work without a mouse?")
    dashboard.shot("keyboard-focus")
    tab_to("Submit")
    keyboard.press("Enter")
    # THEN the ticket is filed
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)
    assert any(
        t["title"] == title
        for t in http(stack, "GET", "/tickets?limit=100", token=token(stack, "customer")).body["items"]
    )
