"""Idempotency records: `IDEMPOTENCY#intake / <hash>`, Powertools' own, with a TTL."""

from __future__ import annotations

from support_common.repository.table import TTL_ATTR

# Where Powertools idempotency keeps its records in this table (DynamoDBPersistenceLayer's arguments).
# Its attribute names stay apart from a ticket's own (`status`), since both live in one table.
IDEMPOTENCY_LAYOUT: dict[str, str] = {
    "key_attr": "pk",
    "sort_key_attr": "sk",
    "static_pk_value": "IDEMPOTENCY#intake",
    "expiry_attr": TTL_ATTR,
    "status_attr": "idempotency_status",
    "data_attr": "idempotency_data",
    "validation_key_attr": "idempotency_validation",
}
