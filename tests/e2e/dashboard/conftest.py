"""A real browser (Debian's chromium, headless, driven by Playwright) against the e2e local stack.

Every test gets a fresh browser context (its own sessionStorage, so its own sign-in). Each test
fails on a JavaScript error in the page. Screens are saved as PNGs into one folder per run,
printed at the end of the run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.e2e.conftest import RunningStack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}
# Playwright's wait for one element or answer; the page refreshes a ticket every 4 s.
WAIT_MS = 15_000

_screens_dir: list[Path] = []


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert CHROMIUM.exists(), "the browser tests need Debian's chromium: apt-get install -y chromium"
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dashboard-screens")
    _screens_dir.append(folder)
    return folder


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for folder in _screens_dir:
        count = len(list(folder.glob("*.png")))
        terminalreporter.write_line(f"dashboard screenshots ({count}): {folder}")


@dataclass
class Dashboard:
    """One browser tab on the dashboard, and what it saw."""

    page: Page
    stack: RunningStack
    screens: Path
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.stack.info["web_url"])

    def open(self, hash_route: str = "") -> None:
        self.page.goto(self.url + hash_route)

    def sign_in(self, role: str) -> None:
        """The demo sign-in, as a person does it: the button on the first screen."""
        self.open()
        self.page.get_by_role("button", name=f"Sign in as {role}").click()
        expected = "Queue" if role == "support" else "Your tickets"
        self.page.get_by_role("heading", level=1, name=expected).wait_for()

    def go(self, hash_route: str) -> None:
        self.page.evaluate("(route) => { location.hash = route; }", hash_route)

    def shot(self, name: str) -> Path:
        path = self.screens / f"{time.strftime('%H%M%S')}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def api_calls(self, method: str, path_pattern: str) -> list[str]:
        pattern = re.compile(path_pattern)
        return [url for m, url in self.requests if m == method and pattern.search(url)]


def open_dashboard(
    browser: Browser, stack: RunningStack, screens: Path, viewport: dict[str, int], *, mobile: bool = False
) -> Iterator[Dashboard]:
    context = browser.new_context(viewport=viewport, is_mobile=mobile, has_touch=mobile)  # type: ignore[arg-type]
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    board = Dashboard(page, stack, screens)
    page.on("pageerror", lambda exc: board.errors.append(str(exc)))
    page.on("dialog", lambda dialog: (board.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: board.requests.append((request.method, request.url)))
    try:
        yield board
    finally:
        context.close()
    assert not board.errors, f"JavaScript errors in the page: {board.errors}"


@pytest.fixture
def dashboard(browser: Browser, stack: RunningStack, screens: Path) -> Iterator[Dashboard]:
    yield from open_dashboard(browser, stack, screens, DESKTOP)


@pytest.fixture
def second_dashboard(browser: Browser, stack: RunningStack, screens: Path) -> Iterator[Dashboard]:
    """Another person at another browser (its own session)."""
    yield from open_dashboard(browser, stack, screens, DESKTOP)


@pytest.fixture
def phone(browser: Browser, stack: RunningStack, screens: Path) -> Iterator[Dashboard]:
    yield from open_dashboard(browser, stack, screens, PHONE, mobile=True)
