"""Outbound mail records: `TICKET#<id> / OUT#<what>`, one per staff reply (`reply#<comment id>`)
or status notice (`notice#<ticket version>`), claimed once before the mail is sent.

The protocol is the page record's (`pages`): a conditional put in state `sending` with a token and a
lease that ends with the claiming invocation; then `sent` (or `skipped`, e.g. rate-limited). A
redelivered stream record finds `sent` and mails nothing; a failed send deletes the claim so the
record's retry can send; a crash between send and mark lets the claim expire, and only then can a
mail go twice.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from support_common.aws_errors import condition_failed
from support_common.models import iso, utcnow
from support_common.repository.pages import ClaimStatus
from support_common.repository.table import LEASE_SENDING, Table, claim_lease, from_item, key, ser
from support_common.repository.ticket_items import ticket_pk

OUT_PREFIX = "OUT#"
SENDING, SENT, SKIPPED = LEASE_SENDING, "sent", "skipped"


def _out_key(ticket_id: str, ref: str) -> dict[str, Any]:
    return key(ticket_pk(ticket_id), f"{OUT_PREFIX}{ref}")


class OutboundStore:
    """Claims, marks and releases the once-only records of outgoing mail."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def claim(self, ticket_id: str, ref: str, *, token: str, lease_until: float, now: float) -> ClaimStatus:
        """Take the right to send mail `ref` of a ticket: CLAIMED, SENT (done before) or BUSY."""
        fields = {"entity": "outbound", "ticket_id": ticket_id, "ref": ref}
        old = claim_lease(self.table, _out_key(ticket_id, ref), fields, token, lease_until, now)
        if old is None:
            return ClaimStatus.CLAIMED
        return ClaimStatus.BUSY if old.get("state") == SENDING else ClaimStatus.SENT

    def finish(self, ticket_id: str, ref: str, *, token: str, state: str, message_id: str | None = None) -> bool:
        """Mark a claimed mail `sent` (with SES's id) or `skipped`; False when the claim was lost."""
        values: dict[str, Any] = {":state": ser(state), ":at": ser(iso(utcnow())), ":token": ser(token)}
        expression = "SET #state = :state, done_at = :at"
        if message_id:
            expression += ", message_id = :mid"
            values[":mid"] = ser(message_id)
        try:
            self.table.client.update_item(
                TableName=self.table.name,
                Key=_out_key(ticket_id, ref),
                UpdateExpression=expression + " REMOVE lease_until",
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#state": "state", "#token": "token"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def release(self, ticket_id: str, ref: str, *, token: str) -> None:
        """Give up a claim after a failed send, so that the record's retry can send at once."""
        try:
            self.table.client.delete_item(
                TableName=self.table.name,
                Key=_out_key(ticket_id, ref),
                ConditionExpression="#token = :token AND #state = :sending",
                ExpressionAttributeNames={"#state": "state", "#token": "token"},
                ExpressionAttributeValues={":token": ser(token), ":sending": ser(SENDING)},
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise

    def state(self, ticket_id: str, ref: str) -> str | None:
        """The record's state (tests and tools), or None when there is none."""
        resp = self.table.client.get_item(
            TableName=self.table.name, Key=_out_key(ticket_id, ref), ConsistentRead=True
        )
        item = resp.get("Item")
        return str(from_item(item)["state"]) if item else None
