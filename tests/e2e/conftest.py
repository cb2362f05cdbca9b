"""The local stack as a subprocess on free ports, with its own state dir, and the clients tests use.

It runs beside a developer's own `make run`: every port is picked by the OS and nothing is shared
with `.local/`. Tests talk to it only over real sockets: HTTP, SMTP, and boto3 against moto.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0

T = TypeVar("T")


@dataclass
class RunningStack:
    process: subprocess.Popen[bytes]
    state_dir: Path
    log_path: Path
    info: dict[str, Any]

    @property
    def api_url(self) -> str:
        return str(self.info["api_url"])

    @property
    def ports(self) -> list[tuple[str, int]]:
        aws = self.info["aws_endpoint_url"].rsplit(":", 1)
        api = self.api_url.rsplit(":", 1)
        return [
            (aws[0].removeprefix("http://"), int(aws[1])),
            (api[0].removeprefix("http://"), int(api[1])),
            (self.info["smtp_host"], int(self.info["smtp_port"])),
        ]

    def log_tail(self, lines: int = 80) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.info["aws_endpoint_url"],
            region_name=self.info["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )


SECOND_USER = "bob@globex.example"  # a customer of a second tenant, created with `--user`


def start_stack(state_dir: Path, extra_args: Sequence[str] = ()) -> RunningStack:
    """`python -m local` on free ports, in its own session so its whole tree can be checked."""
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "stack.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCAL_"))}
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'common'}"
    env["PYTHONUNBUFFERED"] = "1"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local",
                "--aws-port",
                "0",
                "--api-port",
                "0",
                "--smtp-port",
                "0",
                "--state-dir",
                str(state_dir),
                *extra_args,
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack_file = state_dir / "stack.json"
    deadline = time.monotonic() + START_TIMEOUT
    while not stack_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"the stack did not start:\n{log_path.read_text(errors='replace')[-6000:]}")
        time.sleep(0.1)
    return RunningStack(process, state_dir, log_path, json.loads(stack_file.read_text()))


def stop_stack(stack: RunningStack) -> None:
    """SIGTERM, then require: the process exited, its process group is empty, its ports are closed."""
    stack.process.send_signal(signal.SIGTERM)
    try:
        code = stack.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(stack.process.pid, signal.SIGKILL)
        stack.process.wait()
        raise AssertionError(f"the stack ignored SIGTERM for {STOP_TIMEOUT}s:\n{stack.log_tail()}") from None
    assert code == 0, f"the stack exited with {code}:\n{stack.log_tail()}"
    assert not process_group_alive(stack.process.pid), "a process of the stack outlived it"
    for host, port in stack.ports:
        assert not port_open(host, port), f"{host}:{port} still accepts connections"
    assert not (stack.state_dir / "stack.json").exists(), "stack.json left behind by a stopped stack"


def process_group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0, every: float = 0.1) -> T:
    """Poll until `probe` returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: Any


def http(
    stack: RunningStack,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> HttpResult:
    """One request to the local HTTP API with urllib; the JSON body decoded."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(stack.api_url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, got = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        status, raw, got = error.code, error.read(), dict(error.headers)
    try:
        decoded: Any = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        decoded = raw.decode(errors="replace")
    return HttpResult(status, {k.lower(): v for k, v in got.items()}, decoded)


@dataclass
class PageCollector:
    """Drains the pager queue of stack.json into a list that tests search by ticket id."""

    sqs: Any
    queue_url: str
    pages: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def drain(self) -> None:
        with self._lock:
            while True:
                got = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=0,
                    MessageAttributeNames=["All"],
                )
                messages = got.get("Messages", [])
                if not messages:
                    return
                for message in messages:
                    self.pages.append(json.loads(message["Body"]))
                    self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def for_ticket(self, ticket_id: str) -> list[dict[str, Any]]:
        self.drain()
        return [p for p in self.pages if ticket_id in str(p.get("Subject", "")) + str(p.get("Message", ""))]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("local-stack"), ["--user", f"{SECOND_USER}:globex"])
    try:
        yield running
    finally:
        stop_stack(running)


@pytest.fixture(scope="session")
def pages(stack: RunningStack) -> PageCollector:
    return PageCollector(stack.client("sqs"), stack.info["pager_queue_url"])


@pytest.fixture(scope="session")
def customer_token(stack: RunningStack) -> str:
    return str(stack.info["tokens"]["customer"])


@pytest.fixture(scope="session")
def support_token(stack: RunningStack) -> str:
    return str(stack.info["tokens"]["support"])
