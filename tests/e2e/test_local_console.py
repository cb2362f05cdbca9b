"""What a tester meets first: the banner's example, the console log, more users and tenants."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local import logs
from tests.e2e.conftest import SECOND_USER, PageCollector, RunningStack, http, wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def _banner_example(stack: RunningStack) -> str:
    """The banner's "Try:" lines exactly as the console shows them, indentation included."""
    text = stack.log_path.read_text()
    start = text.index("  Try:\n") + len("  Try:\n")
    return text[start : text.index("\n  make demo:", start)]


def _json_documents(text: str) -> list[Any]:
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        value, at = decoder.raw_decode(text, at)
        found.append(value)
    return found


def _wait_for_log(stack: RunningStack, text: str) -> str:
    return wait_for(
        f"{text!r} in the stack's log",
        lambda: stack.log_path.read_text() if text in stack.log_path.read_text() else None,
    )


# --- the banner -----------------------------------------------------------------------------


def test_banner_example_pasted_into_shell_creates_urgent_ticket_pages_and_mails(
    stack: RunningStack, customer_token: str, pages: PageCollector
) -> None:
    # GIVEN the banner's example, pasted into bash as a user copies it from the console
    example = _banner_example(stack)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    # WHEN it runs
    ran = subprocess.run(
        ["bash", "-e", "-c", example], capture_output=True, text=True, env=env, timeout=60, cwd=ROOT
    )
    # THEN the POST answered a new urgent incident (not a 422), the GET lists it, and it pages
    assert ran.returncode == 0, ran.stderr
    created, listed = _json_documents(ran.stdout)
    assert created.get("id", "").startswith("INC-"), created
    assert created["priority"] == "urgent" and created["environment"] == "production"
    assert created["id"] in [t["id"] for t in listed["items"]]
    wait_for("the banner example's page", lambda: pages.for_ticket(created["id"]))

    # AND the mail line filed an urgent incident by email
    def mailed() -> dict[str, Any] | None:
        found = http(stack, "GET", "/tickets?type=incident&limit=100", token=customer_token).body["items"]
        return next((t for t in found if t["channel"] == "email" and t["title"] == "Site down"), None)

    assert wait_for("the banner example's mail ticket", mailed)["priority"] == "urgent"


# --- the console log ------------------------------------------------------------------------


def test_log_escape_control_characters_shown_as_escapes() -> None:
    # GIVEN text with CR/LF, ESC, a C1 CSI and a NUL
    text = "/tickets\r\n[api]    GET /forged -> 200\x1b[2J\x9b31m\x00"
    # WHEN it is escaped for the log
    escaped = logs.escape(text)
    # THEN it is one line without a control character, and says what was there
    assert escaped == "/tickets\\r\\n[api]    GET /forged -> 200\\x1b[2J\\x9b31m\\x00"
    assert escaped.isprintable()


def test_log_emit_drops_terminal_escapes_keeps_line_breaks(tmp_path: Path) -> None:
    # GIVEN a log target
    path = tmp_path / "console.log"
    with path.open("w") as target:
        # WHEN text from a library holds an escape sequence and its own line breaks
        logs.emit("[aws]    first\x1b]0;owned\x07\n[aws]    second\ttab\n", target)  # type: ignore[arg-type]
    # THEN its lines stay lines, and no control character reaches the terminal
    assert path.read_text() == "[aws]    first\\x1b]0;owned\\x07\n[aws]    second\ttab\n"


def _raw_http(stack: RunningStack, request_line: bytes) -> bytes:
    host, port = stack.api_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request_line + b"\r\nHost: local\r\nConnection: close\r\n\r\n")
        return conn.recv(4096)


def test_api_unauthenticated_path_cannot_forge_log_lines_or_escapes(stack: RunningStack) -> None:
    # GIVEN a request without a token whose path holds CR/LF, a forged log line and terminal escapes
    forged = "[api]    POST /tickets -> 201 (1 ms) forged"
    path = "/tickets/x%0D%0A" + forged.replace(" ", "%20") + "%1B%5B2J%1B%5D0;owned%07"
    # WHEN it reaches the local API
    answer = _raw_http(stack, f"GET {path} HTTP/1.1".encode())
    # THEN it is refused, and the console shows it on one line, escaped
    assert answer.startswith((b"HTTP/1.1 401", b"HTTP/1.1 404")), answer[:80]
    log = _wait_for_log(stack, "forged")
    line = next(line for line in log.splitlines() if "forged" in line)
    assert line.startswith("[api]") and "GET /tickets/x\\r\\n[api]" in line and "\\x1b[2J" in line
    assert not any(part.startswith(forged) for part in log.splitlines())
    assert "\x1b" not in log and "\r" not in log and "\x07" not in log


# --- a second tenant's user -----------------------------------------------------------------


def test_user_flag_second_tenant_cannot_see_first_tenants_ticket(stack: RunningStack, customer_token: str) -> None:
    # GIVEN alice's ticket (tenant acme) and bob, started with `--user bob@globex.example:globex`
    bob = stack.info["tokens"][SECOND_USER]
    created = http(
        stack,
        "POST",
        "/tickets",
        token=customer_token,
        body={"type": "question", "title": "acme only", "description": "?"},
    )
    assert created.status == 201, created.body
    # WHEN bob reads it, lists, and opens a ticket of his own
    read = http(stack, "GET", f"/tickets/{created.body['id']}", token=bob)
    own = http(
        stack, "POST", "/tickets", token=bob, body={"type": "question", "title": "globex", "description": "?"}
    )
    listed = http(stack, "GET", "/tickets?limit=100", token=bob)
    # THEN alice's ticket is a 404 to him, his own is globex's, and his list holds only globex's tickets
    assert read.status == 404, read.body
    assert own.status == 201 and own.body["tenant"] == "globex"
    assert {t["tenant"] for t in listed.body["items"]} == {"globex"}
    assert http(stack, "GET", f"/tickets/{own.body['id']}", token=customer_token).status == 404


def test_users_add_command_running_stack_token_in_stack_json(stack: RunningStack) -> None:
    # GIVEN the running stack
    # WHEN a tester adds a user of a third tenant with the command
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "local.users",
            "add",
            "carol@initech.example:initech",
            "--state-dir",
            str(stack.state_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'common'}"},
    )
    # THEN stack.json holds carol's token, which signs her in as tenant initech
    assert ran.returncode == 0, ran.stderr
    token = json.loads((stack.state_dir / "stack.json").read_text())["tokens"]["carol@initech.example"]
    own = http(
        stack, "POST", "/tickets", token=token, body={"type": "question", "title": "initech", "description": "?"}
    )
    assert own.status == 201 and own.body["tenant"] == "initech", own.body
    assert http(stack, "GET", f"/tickets/{own.body['id']}", token=stack.info["tokens"][SECOND_USER]).status == 404


def test_users_add_command_bad_spec_clear_error(stack: RunningStack) -> None:
    # GIVEN a user named without a tenant
    # WHEN the command runs
    ran = subprocess.run(
        [sys.executable, "-m", "local.users", "add", "dave@example.com", "--state-dir", str(stack.state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    # THEN it says what it expected, and creates nothing
    assert ran.returncode == 2
    assert "expected EMAIL:TENANT" in ran.stderr
    assert "dave@example.com" not in json.loads((stack.state_dir / "stack.json").read_text())["tokens"]
