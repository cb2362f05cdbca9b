"""Contacts: `CONTACTS / <address or domain>`, who belongs to which tenant."""

from __future__ import annotations

from typing import Any

from support_common.models import Contact
from support_common.repository.table import Table, from_item, key, ser, to_item

CONTACTS_PK = "CONTACTS"


def contact_key(address: str) -> dict[str, Any]:
    return key(CONTACTS_PK, address)


def contact_from_item(item: dict[str, Any]) -> Contact:
    data = {k: v for k, v in item.items() if k not in ("pk", "sk", "entity")}
    return Contact.model_validate(data)


class ContactStore:
    """Reads and writes contacts."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def put(self, contact: Contact) -> None:
        """Register (or re-register) an address or a domain as a contact of a tenant."""
        data = contact.model_dump(mode="json", exclude_none=True)
        data.update(pk=CONTACTS_PK, sk=contact.address, entity="contact")
        self.table.client.put_item(TableName=self.table.name, Item=to_item(data))

    def delete(self, address: str) -> bool:
        """Remove a contact; return whether it existed."""
        resp = self.table.client.delete_item(
            TableName=self.table.name, Key=contact_key(address), ReturnValues="ALL_OLD"
        )
        return "Attributes" in resp

    def list(self, tenant: str | None = None) -> list[Contact]:
        """All contacts, or those of one tenant."""
        kwargs: dict[str, Any] = {
            "TableName": self.table.name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": ser(CONTACTS_PK)},
        }
        if tenant:
            kwargs["FilterExpression"] = "tenant = :t"
            kwargs["ExpressionAttributeValues"][":t"] = ser(tenant)
        contacts: list[Contact] = []
        while True:
            resp = self.table.client.query(**kwargs)
            contacts += [contact_from_item(from_item(item)) for item in resp.get("Items", [])]
            if "LastEvaluatedKey" not in resp:
                return contacts
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
