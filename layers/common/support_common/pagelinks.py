"""Signed acknowledgement links and reply codes of pages: no sign-in, forged or expired ones refused.

A link is `<API base URL>/ack/<token>`, the token `base64url(ticket_id|round|level|expiry)` and
a truncated HMAC-SHA256 (128 bits) of it, joined by a dot. A reply code is six digits from an
HMAC over the ticket id and round: a staff member who answers a page by mail quotes it. Both keys
derive from one secret (the template's AckSigningSecret), with a label each so that neither can
stand in for the other. Verification compares in constant time and only then reads the fields.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

ACK_PATH = "/ack/"
MAC_BYTES = 16
REPLY_CODE_DIGITS = 6
TOKEN_MAX_CHARS = 200
_LINK_LABEL = b"support-desk ack link v1|"
_REPLY_LABEL = b"support-desk ack reply v1|"
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{8,160}\.[A-Za-z0-9_-]{16,64}$")
_FIELDS = re.compile(r"^(?P<id>[A-Z]{3}-[0-9A-Z]{6})\|(?P<round>\d{1,6})\|(?P<level>\d{1,3})\|(?P<exp>\d{1,12})$")


class InvalidToken(Exception):
    """The link was not made by us (`forged`) or is past its expiry (`expired`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AckToken:
    """What a link acknowledges: the page of `ticket_id` in `round` at `level`, until `expires`."""

    ticket_id: str
    round: int
    level: int
    expires: int  # epoch seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PageSigner:
    """Signs and verifies links and reply codes with the key `key()` returns (read when first needed)."""

    def __init__(self, key: Callable[[], bytes]) -> None:
        self._key = key

    def _mac(self, label: bytes, data: bytes) -> bytes:
        return hmac.new(self._key(), label + data, hashlib.sha256).digest()

    def sign(self, token: AckToken) -> str:
        """The token text of a link."""
        payload = f"{token.ticket_id}|{token.round}|{token.level}|{token.expires}".encode()
        return f"{_b64(payload)}.{_b64(self._mac(_LINK_LABEL, payload)[:MAC_BYTES])}"

    def verify(self, text: str, *, now: float) -> AckToken:
        """The token a link names; InvalidToken when it is not ours or has expired."""
        if len(text) > TOKEN_MAX_CHARS or not _TOKEN_SHAPE.match(text):
            raise InvalidToken("forged")
        payload_text, mac_text = text.split(".")
        try:
            payload, mac = _unb64(payload_text), _unb64(mac_text)
        except (binascii.Error, ValueError):
            raise InvalidToken("forged") from None
        if _b64(payload) != payload_text or _b64(mac) != mac_text:
            raise InvalidToken("forged")  # one spelling per token: unused base64 bits must be zero
        if not hmac.compare_digest(mac, self._mac(_LINK_LABEL, payload)[:MAC_BYTES]):
            raise InvalidToken("forged")
        match = _FIELDS.match(payload.decode("ascii", "replace"))
        if match is None:  # signed by us, so never; but a key shared by mistake must not crash us
            raise InvalidToken("forged")
        token = AckToken(match["id"], int(match["round"]), int(match["level"]), int(match["exp"]))
        if token.expires <= now:
            raise InvalidToken("expired")
        return token

    def reply_code(self, ticket_id: str, round_: int) -> str:
        """The six digits that a mail answering the pages of (ticket, round) quotes."""
        digest = self._mac(_REPLY_LABEL, f"{ticket_id}|{round_}".encode())
        return str(int.from_bytes(digest[:8], "big") % 10**REPLY_CODE_DIGITS).zfill(REPLY_CODE_DIGITS)

    def reply_code_valid(self, ticket_id: str, round_: int, code: str) -> bool:
        return hmac.compare_digest(code.encode(), self.reply_code(ticket_id, round_).encode())


def ack_url(api_url: str, token_text: str) -> str:
    """The acknowledgement link: `<API base URL>/ack/<token>`."""
    return f"{api_url.rstrip('/')}{ACK_PATH}{token_text}"
