"""`python -m local.soak`: a long mixed load on a local stack of its own, and what it did to the stack.

The stack starts on free ports with its own state dir and a second tenant's user. Dashboard
clients (customers of two tenants and one staff member) send seeded, mixed requests at once:
creates, urgent incidents, comments (one character or a paragraph), creates that name a related
ticket that does not exist or belongs to the other tenant (a cancelled DynamoDB transaction and a
422), lists and reads. Halfway through, a burst of mail arrives over SMTP (urgent and questions).
The pager queue is drained as the pages come (local/pagecount.py); afterwards every ticket
accepted is read back and the last pages are awaited.

Reported: the stack's resident memory (RSS) after the warm-up and at the end of each window of
requests, latency p50/p99 per window, and pages per urgent incident. `make test` runs a short
version (tests/e2e/test_local_soak.py); `make load` the full one (figures in BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from local.pagecount import PageCounter

ROOT = Path(__file__).resolve().parents[1]
SECOND_USER = "bob@globex.example"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
WARMUP_TICKETS = 30  # per customer: lists are full pages before the first window starts


@dataclass(frozen=True)
class SoakConfig:
    requests: int = 1500
    clients: int = 2  # customer dashboard clients (alternating tenants acme and globex), plus one staff
    mail: int = 20
    windows: int = 5
    seed: int = 9
    timeout: float = 120.0  # for pages and mail to arrive once the requests are done


@dataclass
class Window:
    requests: int
    p50_ms: float
    p99_ms: float
    rss_mb: float


@dataclass
class SoakResult:
    config: SoakConfig
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    windows: list[Window] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    accepted: list[str] = field(default_factory=list)  # ticket ids answered 201
    unreadable: list[str] = field(default_factory=list)
    urgent: list[str] = field(default_factory=list)  # urgent incidents: API and mail
    urgent_after_cancel: int = 0
    pages: Counter[str] = field(default_factory=Counter)  # ticket id -> level-1 pages
    pages_read: int = 0  # every page, re-pages included
    mails_missing: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def unpaged(self) -> list[str]:
        return [t for t in self.urgent if self.pages[t] != 1]

    @property
    def unexpected_pages(self) -> list[str]:
        return sorted(set(self.pages) - set(self.urgent))

    @property
    def latency_ratio(self) -> float:
        """The last window's p50 over the first's: 1.0 is flat."""
        return self.windows[-1].p50_ms / max(self.windows[0].p50_ms, 0.001)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS: the soak measures memory through Linux's /proc")


class Stack:
    """`python -m local` on free ports, as a user starts it, stopped with SIGTERM."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCAL_"))}
        env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'common'}"
        self.log = (state_dir / "stack.log").open("wb")
        ports = ["--aws-port", "0", "--api-port", "0", "--smtp-port", "0"]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local",
                *ports,
                "--state-dir",
                str(state_dir),
                "--user",
                f"{SECOND_USER}:globex",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        stack_file = self.stack_file = state_dir / "stack.json"
        deadline = time.monotonic() + 90
        while not stack_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the stack did not start: see {state_dir / 'stack.log'}")
            time.sleep(0.1)
        self.info: dict[str, Any] = json.loads(stack_file.read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


# A 503 carries Retry-After: the client waits that long (at most this) and tries again, as the
# dashboard does, this many times in all.
RETRY_AFTER_MAX_SECONDS = 5.0
ATTEMPTS_ON_503 = 3


def request(api: str, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    """One request as a client makes it: a 503 is retried after its Retry-After; a timeout or a
    refused connection is an answer with status 0 (counted as an error, never a dead client)."""
    for attempt in range(ATTEMPTS_ON_503):
        status, answer, retry_after = _request_once(api, method, path, token, body)
        if status != 503 or attempt == ATTEMPTS_ON_503 - 1:
            return status, answer
        time.sleep(min(RETRY_AFTER_MAX_SECONDS, retry_after))
    raise AssertionError("unreachable")


def _request_once(api: str, method: str, path: str, token: str, body: Any) -> tuple[int, Any, float]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(api + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    retry_after = 1.0
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
        try:
            retry_after = float(error.headers.get("Retry-After") or 1)
        except ValueError:
            retry_after = 1.0
    except (OSError, TimeoutError) as error:  # URLError is an OSError
        return 0, f"{type(error).__name__}: {error}", retry_after
    try:
        return status, json.loads(raw) if raw else None, retry_after
    except json.JSONDecodeError:
        return status, raw.decode(errors="replace"), retry_after


class Soak:
    def __init__(self, config: SoakConfig, stack: Stack) -> None:
        self.config = config
        self.stack = stack
        self.api = str(stack.info["api_url"])
        self.result = SoakResult(config)
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.window_rss: list[float] = []
        self.cancelled_once = threading.Event()
        self.mail_started = threading.Event()
        self.mail_subjects: list[str] = []
        self.measuring = False  # the warm-up's requests are not in the windows
        tokens = stack.info["tokens"]
        self.customers = [(str(tokens["customer"]), "acme"), (str(tokens[SECOND_USER]), "globex")]
        self.staff = str(tokens["support"])
        # The stack renews ID tokens before their hour ends (local/tokens.py) and writes them into
        # stack.json: a client that meets a 401 reads them again, as the dashboard signs in again.
        self._latest: dict[str, str] = {key: str(value) for key, value in tokens.items()}
        self._successor: dict[str, str] = {}

    # --- the dashboard clients --------------------------------------------------------------

    def run(self) -> SoakResult:
        started = time.monotonic()
        pid = int(self.stack.info["pid"])
        owned: list[list[str]] = [[] for _ in range(self.config.clients)]
        for n in range(self.config.clients):
            token, _ = self.customers[n % 2]
            for i in range(WARMUP_TICKETS):
                owned[n].append(self._create(token, {"type": "question", "title": f"warm-up {i}"}))
        self.result.rss_start_mb = rss_mb(pid)
        self.measuring = True
        pages = self._page_counter()  # drains the pager queue while the load runs
        pages.start()
        quota = self.config.requests // (self.config.clients + 1)
        threads = [
            threading.Thread(target=self._customer, args=(n, owned[n], quota), daemon=True)
            for n in range(self.config.clients)
        ]
        staff_quota = self.config.requests - quota * self.config.clients
        threads.append(threading.Thread(target=self._staff, args=(staff_quota,), daemon=True))
        threads.append(threading.Thread(target=self._mail_burst, daemon=True))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self._summarize_windows(pid)
        self._read_back()
        self.result.pages = pages.finish(lambda: list(self.result.urgent), self.config.timeout)
        self.result.pages_read = pages.messages
        if pages.error:
            self.result.errors.append(pages.error)
        self.result.rss_end_mb = rss_mb(pid)
        self.result.seconds = time.monotonic() - started
        return self.result

    def _current(self, token: str) -> str:
        with self.lock:
            return self._newest(token)

    def _newest(self, token: str) -> str:
        """The last renewal of `token` (itself if never renewed); the caller holds the lock."""
        while token in self._successor:
            token = self._successor[token]
        return token

    def _request(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        """One request with the newest token of its user; after a 401, once more with a renewed one."""
        token = self._current(token)
        status, answer = request(self.api, method, path, token, body)
        if status == 401:
            data = json.loads(self.stack.stack_file.read_text())
            with self.lock:
                for key, fresh in data.get("tokens", {}).items():
                    old = self._latest.get(key)
                    if old is not None and old != fresh:
                        self._successor[old] = fresh
                    self._latest[key] = fresh
                renewed = self._newest(token)
                if renewed != token:
                    self.result.counts["token renewed"] += 1
            if renewed != token:
                status, answer = request(self.api, method, path, renewed, body)
        return status, answer

    def _timed(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        began = time.perf_counter()
        status, answer = self._request(method, path, token, body)
        took = (time.perf_counter() - began) * 1000
        if not self.measuring:
            return status, answer
        with self.lock:
            self.latencies.append(took)
            done = len(self.latencies)
            per_window = max(1, self.config.requests // self.config.windows)
            if done % per_window == 0 and len(self.window_rss) < self.config.windows:
                self.window_rss.append(rss_mb(int(self.stack.info["pid"])))
            if done >= self.config.requests // 2:
                self.mail_started.set()
        return status, answer

    def _expect(self, what: str, status: int, wanted: int, answer: Any) -> bool:
        if self.measuring:
            self.result.counts[what] += 1
        if status == wanted:
            return True
        with self.lock:
            self.result.errors.append(f"{what}: {status} (wanted {wanted}) {str(answer)[:200]}")
        return False

    def _create(self, token: str, body: dict[str, Any], urgent: bool = False) -> str:
        status, answer = self._timed("POST", "/tickets", token, {"description": "soak", **body})
        if not self._expect("create", status, 201, answer):
            return ""
        ticket_id = str(answer["id"])
        with self.lock:
            self.result.accepted.append(ticket_id)
            if urgent:
                self.result.urgent.append(ticket_id)
                self.result.urgent_after_cancel += self.cancelled_once.is_set()
        return ticket_id

    def _customer(self, n: int, owned: list[str], quota: int) -> None:
        rng = random.Random(self.config.seed * 1000 + n)
        token, _ = self.customers[n % 2]
        for _ in range(quota):
            roll = rng.random()
            if roll < 0.18:
                kind = rng.choice(["question", "problem", "incident"])
                body: dict[str, Any] = {
                    "type": kind,
                    "title": f"{kind} {rng.randrange(10**6)}",
                    "priority": rng.choice(["low", "normal", "high"]),
                }
                if kind == "incident":
                    body["environment"] = "staging"
                if ticket_id := self._create(token, body):
                    owned.append(ticket_id)
            elif roll < 0.22:
                body = {
                    "type": "incident",
                    "priority": "urgent",
                    "title": f"down {rng.randrange(10**6)}",
                    "environment": "production",
                }
                if ticket_id := self._create(token, body, urgent=True):
                    owned.append(ticket_id)
            elif roll < 0.32:
                # A problem linking a ticket that does not exist: the transaction is cancelled.
                missing = "INC-" + "".join(rng.choice(_CROCKFORD) for _ in range(6))
                body = {"type": "problem", "title": "cause", "related": [missing]}
                status, answer = self._timed("POST", "/tickets", token, {"description": "soak", **body})
                if self._expect("cancelled", status, 422, answer):
                    self.cancelled_once.set()
            elif roll < 0.62:
                text = rng.choice(["k", "Still failing after the restart; logs attached on the next reply."])
                status, answer = self._timed(
                    "POST", f"/tickets/{rng.choice(owned)}/comments", token, {"body": text}
                )
                self._expect("comment", status, 201, answer)
            elif roll < 0.85:
                query = rng.choice(["", "&status=open", "&type=incident", "&priority=urgent"])
                status, answer = self._timed("GET", f"/tickets?limit=25{query}", token)
                self._expect("list", status, 200, answer)
            else:
                status, answer = self._timed("GET", f"/tickets/{rng.choice(owned)}", token)
                self._expect("get", status, 200, answer)

    def _staff(self, quota: int) -> None:
        rng = random.Random(self.config.seed)
        for _ in range(quota):
            query = rng.choice(["", "&tenant=acme", "&tenant=globex&status=open", "&type=incident"])
            status, answer = self._timed("GET", f"/tickets?limit=25{query}", self.staff)
            self._expect("staff list", status, 200, answer)

    def _mail_burst(self) -> None:
        self.mail_started.wait()
        host, port = self.stack.info["smtp_host"], int(self.stack.info["smtp_port"])
        domain = self.stack.info["support_domain"]
        subjects = []
        with smtplib.SMTP(host, port, timeout=60) as smtp:
            for n in range(self.config.mail):
                message = EmailMessage()
                message["From"] = "alice@acme.example"
                message["To"] = f"{'urgent' if n % 2 == 0 else 'question'}@{domain}"
                message["Subject"] = f"soak mail {self.config.seed}-{n}"
                message.set_content(
                    "Checkout returns 502 since 18:20 UTC." if n % 2 == 0 else "How do I add a user?"
                )
                smtp.send_message(message)  # raises unless the server answered 250
                subjects.append(str(message["Subject"]))
        self.result.counts["mail"] = len(subjects)
        self.mail_subjects = subjects

    # --- afterwards ------------------------------------------------------------------------------

    def _summarize_windows(self, pid: int) -> None:
        per_window = max(1, len(self.latencies) // self.config.windows)
        for w in range(self.config.windows):
            chunk = sorted(self.latencies[w * per_window : (w + 1) * per_window])
            if not chunk:
                continue
            p99 = chunk[min(len(chunk) - 1, int(len(chunk) * 0.99))]
            rss = self.window_rss[w] if w < len(self.window_rss) else rss_mb(pid)
            self.result.windows.append(Window(len(chunk), statistics.median(chunk), p99, rss))

    def _read_back(self) -> None:
        """Every ticket answered 201 is readable; every mail accepted became a ticket (urgent: paged)."""
        token_of = {tenant: token for token, tenant in self.customers}
        for ticket_id in list(self.result.accepted):
            status, _ = self._request("GET", f"/tickets/{ticket_id}", self.staff)
            if status != 200:
                self.result.unreadable.append(f"{ticket_id}: {status}")
        wanted = set(self.mail_subjects)
        deadline = time.monotonic() + self.config.timeout
        found: dict[str, dict[str, Any]] = {}
        while wanted - set(found) and time.monotonic() < deadline:
            for kind in ("incident", "question"):
                for ticket in self._all_tickets(token_of["acme"], kind):
                    if ticket["title"] in wanted:
                        found[ticket["title"]] = ticket
            time.sleep(0.5)
        self.result.mails_missing = sorted(wanted - set(found))
        for ticket in found.values():
            if ticket["priority"] == "urgent":
                self.result.urgent.append(ticket["id"])

    def _all_tickets(self, token: str, kind: str) -> list[dict[str, Any]]:
        tickets: list[dict[str, Any]] = []
        path = f"/tickets?limit=100&type={kind}"
        while True:
            status, answer = self._request("GET", path, token)
            if status != 200:
                self.result.errors.append(f"list for read-back: {status} {str(answer)[:200]}")
                return tickets
            tickets += answer["items"]
            if not answer.get("next_token"):
                return tickets
            path = f"/tickets?limit=100&type={kind}&next_token={urllib.parse.quote(answer['next_token'])}"

    def _page_counter(self) -> PageCounter:
        import boto3

        sqs = boto3.client(
            "sqs",
            endpoint_url=self.stack.info["aws_endpoint_url"],
            region_name=self.stack.info["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto's fake credentials, not a secret
        )
        return PageCounter(sqs, str(self.stack.info["pager_queue_url"]))


def soak(config: SoakConfig, state_dir: Path | None = None) -> SoakResult:
    """Start a stack, run the load against it, stop it; the figures."""
    with tempfile.TemporaryDirectory(prefix="soak-") as scratch:
        stack = Stack(state_dir or Path(scratch))
        try:
            return Soak(config, stack).run()
        finally:
            stack.stop()


def report(result: SoakResult) -> str:
    """The figures as BENCHMARKS.md records them."""
    c = result.config
    lines = [
        f"{c.requests} requests ({c.clients} customer clients + 1 staff, concurrent), {c.mail} mails in a burst,"
        f" seed {c.seed}, {result.seconds:.0f} s",
        "",
        "| window | requests | p50 ms | p99 ms | RSS MB at end |",
        "| --- | --- | --- | --- | --- |",
    ]
    for n, w in enumerate(result.windows, 1):
        lines.append(f"| {n} | {w.requests} | {w.p50_ms:.0f} | {w.p99_ms:.0f} | {w.rss_mb:.0f} |")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()))
    lines += [
        "",
        f"RSS {result.rss_start_mb:.0f} MB after warm-up, {result.rss_end_mb:.0f} MB at the end;"
        f" p50 last/first window {result.latency_ratio:.2f}",
        f"requests: {counts}; errors {len(result.errors)}",
        f"tickets accepted {len(result.accepted)}, unreadable {len(result.unreadable)};"
        f" mails missing {len(result.mails_missing)}",
        f"urgent incidents {len(result.urgent)} ({result.urgent_after_cancel} created after a cancelled"
        f" transaction): paged once {len(result.urgent) - len(result.unpaged)}, not exactly once"
        f" {len(result.unpaged)}; pages of non-urgent tickets {len(result.unexpected_pages)};"
        f" pages read {result.pages_read} (re-pages included)",
    ]
    lines += [f"  error: {e}" for e in result.errors[:10]]
    return "\n".join(lines)


def passed(result: SoakResult, max_rss_mb: float, max_latency_ratio: float) -> bool:
    return (
        not result.errors
        and not result.unreadable
        and not result.mails_missing
        and not result.unpaged
        and not result.unexpected_pages
        and result.rss_end_mb < max_rss_mb
        and result.latency_ratio < max_latency_ratio
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=4, help="customer dashboard clients (plus one staff)")
    parser.add_argument("--mail", type=int, default=500, help="mails in the burst")
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--state-dir", type=Path, help="keep the stack's state (and stack.log) here")
    parser.add_argument("--max-rss-mb", type=float, default=1024.0)
    parser.add_argument("--max-latency-ratio", type=float, default=2.0)
    args = parser.parse_args(argv)
    # SIGTERM as an exception: the `finally` that stops the stack runs, no stack is left behind.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    config = SoakConfig(args.requests, args.clients, args.mail, args.windows, args.seed, timeout=300.0)
    result = soak(config, args.state_dir)
    print(report(result))
    ok = passed(result, args.max_rss_mb, args.max_latency_ratio)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
