"""Writing a comment or an internal note (items in `ticket_items`) and what it changes on its ticket."""

from __future__ import annotations

import time
from typing import Any

from support_common.errors import VersionConflict
from support_common.models import Comment, Ticket, Visibility
from support_common.repository.table import TTL_ATTR, Table, TxItem, from_item, key, ser, to_item
from support_common.repository.ticket_items import comment_sk, due_values, ticket_key, ticket_pk

# A keyed comment's marker (`TICKET#<id> / CREQ#<token>`): kept a day, long past any retry.
REQUEST_PREFIX = "CREQ#"
REQUEST_TTL_SECONDS = 24 * 3600


class CommentAlreadyPosted(Exception):
    """A keyed request's comment exists: its retry gets that comment, not a second one."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.token = token


def request_marker_put(table: Table, ticket_id: str, token: str, comment_id: str, body_hash: str) -> TxItem:
    """The transaction item that makes a keyed comment once: it fails when the request posted before."""
    item = to_item(
        {
            "pk": ticket_pk(ticket_id),
            "sk": f"{REQUEST_PREFIX}{token}",
            "entity": "comment-request",
            "comment_id": comment_id,
            "body_hash": body_hash,
            TTL_ATTR: int(time.time()) + REQUEST_TTL_SECONDS,
        }
    )
    return TxItem(
        {"Put": {"TableName": table.name, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
        on_condition_failed=lambda: CommentAlreadyPosted(token),
    )


def request_marker(table: Table, ticket_id: str, token: str) -> dict[str, Any] | None:
    """The marker of a keyed comment request (its comment id and body hash), or None."""
    resp = table.client.get_item(
        TableName=table.name, Key=key(ticket_pk(ticket_id), f"{REQUEST_PREFIX}{token}"), ConsistentRead=True
    )
    item = resp.get("Item")
    return from_item(item) if item else None


def comment_tx_items(
    table: Table, comment: Comment, *, first_response: Ticket | None, list_files: bool
) -> list[TxItem]:
    """The comment's put and its ticket's update, as transaction items.

    An internal note only checks that the ticket exists: nothing a customer sees of the ticket
    changes (not even `updated_at`). `first_response` (the ticket as read, when the comment answers
    it) sets the ticket's `first_response_at` unless it is set, and moves the ticket in the due
    queue as the response target is met; `list_files` appends the comment's attachments to the ticket's list, where each file
    gets its number for downloads.
    """
    data = comment.model_dump(mode="json", exclude_none=True)
    created = data["created_at"]
    data.update(pk=ticket_pk(comment.ticket_id), sk=comment_sk(comment, created), entity="comment")
    put = {
        "Put": {"TableName": table.name, "Item": to_item(data), "ConditionExpression": "attribute_not_exists(pk)"}
    }
    ticket_op = _ticket_op(table, comment, created, first_response=first_response, list_files=list_files)
    return [
        TxItem(put, on_condition_failed=lambda: VersionConflict(comment.ticket_id)),
        TxItem(ticket_op, on_condition_failed=lambda: VersionConflict(comment.ticket_id)),
    ]


def _ticket_op(
    table: Table, comment: Comment, created: str, *, first_response: Ticket | None, list_files: bool
) -> dict[str, Any]:
    if comment.visibility == Visibility.INTERNAL:
        return {
            "ConditionCheck": {
                "TableName": table.name,
                "Key": ticket_key(comment.ticket_id),
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
    sets = ["updated_at = :now"]
    values: dict[str, Any] = {":now": ser(created), ":one": ser(1)}
    removes: list[str] = []
    if first_response is not None:
        sets.append("first_response_at = if_not_exists(first_response_at, :now)")
        if first_response.first_response_at is None:
            answered = first_response.model_copy(update={"first_response_at": comment.created_at})
            for attr, value in due_values(answered).items():
                if value is None:
                    removes.append(attr)
                else:
                    sets.append(f"{attr} = :{attr}")
                    values[f":{attr}"] = ser(value)
    if list_files and comment.attachments:
        sets.append("attachments = list_append(if_not_exists(attachments, :empty), :files)")
        values[":empty"] = {"L": []}
        values[":files"] = ser([a.model_dump(mode="json", exclude_none=True) for a in comment.attachments])
    return {
        "Update": {
            "TableName": table.name,
            "Key": ticket_key(comment.ticket_id),
            "UpdateExpression": "SET "
            + ", ".join(sets)
            + (" REMOVE " + ", ".join(removes) if removes else "")
            + " ADD comment_count :one",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": values,
        }
    }
