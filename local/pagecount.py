"""Counting the pages a local stack sends, from the queue subscribed to its pager topic.

The soak drains the queue while its load runs, not once at the end: the emulation's queue scans
every message it holds on each receive and each delete, so a queue left to fill with an hour of
re-pages (thousands) takes minutes to drain, and a count made against a deadline comes up short.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

_TICKET_ID = re.compile(r"\b([A-Z]{3}-[0-9A-Z]{6})\b")


class PageCounter:
    """Level-1 pages per ticket id, read (and deleted) from a pager queue by a thread of its own."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.pages: Counter[str] = Counter()  # ticket id -> level-1 pages
        self.messages = 0  # every page read, re-pages included
        self.lock = threading.Lock()
        self.error: str = ""
        self._stop = threading.Event()
        self._last_seen = time.monotonic()
        self._thread = threading.Thread(target=self._drain, name="page-counter", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                self._receive_once()
            except Exception as error:  # reported as the soak's error, not lost in a thread
                self.error = f"page counter: {type(error).__name__}: {error}"
                return

    def _receive_once(self) -> None:
        got = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        messages = got.get("Messages", [])
        if not messages:
            return
        with self.lock:
            for message in messages:
                envelope = json.loads(message["Body"])
                attributes = envelope.get("MessageAttributes") or {}
                level = attributes.get("escalation_level", {}).get("Value")
                action = attributes.get("event_action", {}).get("Value", "trigger")
                found = _TICKET_ID.search(str(envelope.get("Subject", "")))
                # A stand-down (acknowledge, resolve) names the level it stands down: not a page.
                if found and str(level) == "1" and action == "trigger":
                    self.pages[found.group(1)] += 1
                    self._last_seen = time.monotonic()
                self.messages += 1
        entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
        failed = self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries).get("Failed")
        if failed:
            raise RuntimeError(f"{len(failed)} pages not deleted: {failed[0].get('Code')}")

    def finish(self, urgent: Callable[[], Collection[str]], timeout: float, quiet: float = 2.0) -> Counter[str]:
        """Wait until every ticket in `urgent()` has a level-1 page and no level-1 page came for
        `quiet` seconds (a duplicate would show by then), or `timeout`; stop and return the counts.

        Re-pages (level 2 and up) keep coming while incidents stay unacknowledged, so only level-1
        pages end the quiet."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not self.error:
                with self.lock:
                    unpaged = [t for t in urgent() if self.pages[t] == 0]
                    idle = time.monotonic() - self._last_seen
                if not unpaged and idle > quiet:
                    break
                time.sleep(0.2)
        finally:
            self._stop.set()
            self._thread.join(timeout=10)
        return self.pages
