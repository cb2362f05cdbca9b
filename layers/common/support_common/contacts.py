"""Contact use cases: which addresses and domains belong to which tenant (staff only)."""

from __future__ import annotations

from support_common.errors import Forbidden, NotFound
from support_common.models import Contact, Identity, utcnow
from support_common.observability import logger
from support_common.repository.contacts import ContactStore


class ContactService:
    """Registers, lists and removes contacts; only support staff may."""

    def __init__(self, store: ContactStore) -> None:
        self.store = store

    def register(self, identity: Identity, *, address: str, tenant: str, name: str | None) -> Contact:
        """Register an address or domain (lower-cased) as a contact of `tenant`."""
        _require_staff(identity)
        contact = Contact(
            address=address.lower(), tenant=tenant, name=name, created_at=utcnow(), created_by=identity.email
        )
        self.store.put(contact)
        logger.info("contact registered", tenant=contact.tenant)
        return contact

    def list(self, identity: Identity, tenant: str | None = None) -> list[Contact]:
        """Every contact, or one tenant's."""
        _require_staff(identity)
        return self.store.list(tenant)

    def remove(self, identity: Identity, address: str) -> None:
        """Remove a contact; NotFound when there is none."""
        _require_staff(identity)
        if not self.store.delete(address.lower()):
            raise NotFound(f"no contact {address}")
        logger.info("contact removed")


def _require_staff(identity: Identity) -> None:
    if not identity.is_support:
        raise Forbidden("only support staff can manage contacts")
