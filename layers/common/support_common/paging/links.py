"""The acknowledgement link and reply code of each page, signed with the stack's key.

A page never waits for its link: when the key cannot be read (Secrets Manager down, no
permission), the page goes out without one, says so in the log, and the key is tried again
after a short pause rather than once per page of a large batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from support_common.aws_errors import AWS_ERRORS, error_code
from support_common.models import Ticket
from support_common.observability import logger
from support_common.pagelinks import AckToken, PageSigner, ack_url
from support_common.paging.message import AckInfo

KEY_RETRY_SECONDS = 30.0


@dataclass
class PageLinks:
    signer: PageSigner
    api_url: str
    ttl: timedelta
    reply_to: str | None = None
    clock: Callable[[], float] = time.time
    _down_until: float = field(default=0.0, repr=False)

    def ack_info(self, ticket: Ticket, level: int) -> AckInfo | None:
        """The link (and reply code) for the page of `ticket`'s current round at `level`."""
        now = self.clock()
        if now < self._down_until:
            return None
        round_ = max(ticket.page_round, 1)
        try:
            token = self.signer.sign(AckToken(ticket.id, round_, level, int(now + self.ttl.total_seconds())))
            code = self.signer.reply_code(ticket.id, round_)
        except AWS_ERRORS as exc:
            self._down_until = now + KEY_RETRY_SECONDS
            logger.error("ack link unavailable", ticket_id=ticket.id, error=error_code(exc))
            return None
        return AckInfo(url=ack_url(self.api_url, token), reply_code=code, reply_to=self.reply_to)
