"""The pages, printed: the console's own queue on the pager topic, one readable line per page."""

from __future__ import annotations

import json
import re
from typing import Any

from local import logs
from local.poller import Poller
from local.stack import Stack

_SUBJECT = re.compile(r"^\[[A-Z]+\]\s*(?P<id>[A-Z]{3}-[0-9A-Z]{6}):\s*(?P<title>.*)$")


def page_line(envelope: dict[str, Any]) -> str:
    """`PAGE level=1 INC-7KQ2XH acme "Site down..."` (or `ACKNOWLEDGE ...`, `RESOLVE ...` for a stand-down)
    from an SNS notification as SQS receives it."""
    attributes = envelope.get("MessageAttributes") or {}

    def attribute(name: str, default: str = "?") -> str:
        value = attributes.get(name) or {}
        return str(value.get("Value", default)) if isinstance(value, dict) else default

    subject = str(envelope.get("Subject") or "")
    match = _SUBJECT.match(subject)
    ticket_id, title = (match.group("id"), match.group("title")) if match else ("?", subject)
    if not title:
        title = str(envelope.get("Message", "")).splitlines()[0] if envelope.get("Message") else ""
    if len(title) > 80:
        title = title[:77] + "..."
    action = attribute("event_action", "trigger")
    # A page is a trigger; a stand-down says what happened (ACKNOWLEDGE, RESOLVE) to whoever was paged.
    what = "PAGE" if action == "trigger" else action.upper()
    # The title is a customer's text: one escaped line, whatever it holds.
    return f'{what} level={attribute("escalation_level")} {ticket_id} {logs.escape(attribute("tenant"))} "{logs.escape(title)}"'


class PagerConsole(Poller):
    name = "pager"

    def __init__(self) -> None:
        super().__init__()
        self.client: Any = None
        self.queue_url = ""

    def setup(self, stack: Stack) -> None:
        self.client = stack.client("sqs")
        self.queue_url = stack.names["console_queue_url"]
        self.log.info("printing every page published to %s", stack.names["pager_topic_arn"])

    def tick(self) -> None:
        # Short waits keep shutdown quick; the loop itself is the long poll.
        response = self.client.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        for message in response.get("Messages", []):
            try:
                envelope = json.loads(message["Body"])
            except json.JSONDecodeError:
                envelope = {"Message": message["Body"]}
            self.log.info("%s", page_line(envelope))
            self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
