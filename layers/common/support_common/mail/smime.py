"""Opaque-signed S/MIME: the signed MIME entity inside ``application/pkcs7-mime``.

An opaque-signed message (``smime-type=signed-data``, RFC 8551 3.5.2) carries its whole
content inside a CMS ``SignedData`` (RFC 5652 5): the signed MIME entity is the
``encapContentInfo``'s ``eContent``. It is only signed, not encrypted, so it can be read
without any key. **The signature is not verified**: the content is taken as the sender's
text like any unsigned mail; the ``.p7m`` itself stays an attachment for whoever wants to
check it. Encrypted S/MIME (``enveloped-data``) cannot be opened and stays an attachment.

``asn1crypto`` (BER and DER, indefinite lengths and chunked octet strings as Outlook writes
them) is imported only when such a part appears, so ordinary mail pays nothing for it.
"""

from __future__ import annotations

__all__ = ["PKCS7_TYPES", "is_opaque_signed", "signed_content"]

PKCS7_TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
_NOT_SIGNED = frozenset({"enveloped-data", "compressed-data", "certs-only", "authenveloped-data"})


def is_opaque_signed(content_type: str, params: dict[str, str]) -> bool:
    """True for a PKCS#7 part that may hold signed content: ``smime-type=signed-data``, or
    no ``smime-type`` at all (older clients omit it; the CMS content type then decides)."""
    if content_type not in PKCS7_TYPES:
        return False
    smime_type = (params.get("smime-type") or "").strip().strip('"').lower()
    return smime_type not in _NOT_SIGNED


def signed_content(der: bytes) -> bytes | None:
    """The ``eContent`` bytes of a CMS ``SignedData`` in ``der``, or None.

    None when ``der`` is not a ``SignedData`` (e.g. encrypted), holds no content (a detached
    signature), or is malformed. Never raises.
    """
    try:
        from asn1crypto import cms

        info = cms.ContentInfo.load(der, strict=False)
        if info["content_type"].native != "signed_data":
            return None
        content = info["content"]["encap_content_info"]["content"]
        value = content.native
        if value is None:
            return None
        if isinstance(value, bytes):
            return value
        return bytes(content.contents or b"")
    except Exception:  # malformed ASN.1 of any kind: the part stays an opaque attachment
        return None
