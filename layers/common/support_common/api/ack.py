"""`/ack/{token}`: acknowledge a page from the page itself, on a phone, without signing in.

GET shows one confirm button and changes nothing (mail scanners and link previews open links);
POST acknowledges. The pages are tiny, self-contained (no external resources), escape everything
they show, and carry a strict Content-Security-Policy: the one inline style is allowed by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import time
from html import escape

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from support_common.api.services import services
from support_common.aws_errors import AWS_ERRORS, error_code
from support_common.models import AckChannel, Status, Ticket
from support_common.observability import count, logger
from support_common.oncall import Outcome
from support_common.pagelinks import AckToken, InvalidToken

router = APIGatewayHttpRouter()

_STYLE = (
    "body{font:18px/1.45 system-ui,-apple-system,sans-serif;margin:0;padding:1.25rem;max-width:34rem;"
    "color:#111;background:#fff}h1{font-size:1.4rem;margin:.2rem 0 .8rem}p{margin:.5rem 0}"
    ".t{font-weight:600;overflow-wrap:anywhere}.m{color:#555;font-size:.95rem}"
    "button{display:block;width:100%;margin-top:1.25rem;padding:1rem;font-size:1.25rem;border:0;"
    "border-radius:.5rem;background:#b00020;color:#fff}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def page(status: int, heading: str, lines: list[str], *, button: str | None = None) -> Response[str]:
    """A small HTML page; `lines` and `heading` are text (escaped here), `button` adds the form."""
    body = "".join(f"<p>{line}</p>" for line in lines)
    form = f'<form method="post"><button type="submit">{escape(button)}</button></form>' if button else ""
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(heading)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{escape(heading)}</h1>{body}{form}</main></body></html>"
    )
    return Response(status_code=status, content_type="text/html; charset=utf-8", body=html, headers=dict(HEADERS))


def _summary(ticket: Ticket, level: int) -> list[str]:
    return [
        f'<span class="t">{escape(ticket.id)}: {escape(ticket.title)}</span>',
        f'<span class="m">Tenant {escape(ticket.tenant)} · level {level} page · '
        f"{escape(ticket.environment or 'environment not given')}</span>",
    ]


def _handled(ticket: Ticket) -> Response[str]:
    if ticket.status == Status.ACKNOWLEDGED:
        who = f" by {escape(ticket.acknowledged_by)}" if ticket.acknowledged_by else ""
        return page(200, "Already acknowledged", [f"{escape(ticket.id)} was already acknowledged{who}."])
    return page(200, f"Already {ticket.status}", [f"{escape(ticket.id)} is already {escape(str(ticket.status))}."])


def _refused(reason: str) -> Response[str]:
    logger.info("ack link refused", reason=reason)
    count("AckLinksRefused", reason=reason)
    if reason == "expired":
        text = "This acknowledgement link has expired. Acknowledge the ticket in the dashboard."
    else:
        text = "This acknowledgement link is not valid."
    return page(403, "Link not valid", [escape(text)])


def _verified(token: str) -> AckToken | Response[str]:
    desk = services(router.context).oncall()
    try:
        return desk.signer.verify(token, now=time.time())
    except InvalidToken as exc:
        return _refused(exc.reason)
    except AWS_ERRORS as exc:
        logger.error("ack key unreadable", error=error_code(exc))
        return page(503, "Try again", ["The acknowledgement service is busy. Try again in a minute."])


def _stale() -> Response[str]:
    return page(
        409,
        "Earlier page",
        ["This link belongs to an earlier round of pages: the incident was reopened since. Use the latest page."],
    )


@router.get("/ack/<token>", include_in_schema=False)
def confirm_page(token: str) -> Response[str]:
    """The confirm page: changes nothing."""
    verified = _verified(token)
    if isinstance(verified, Response):
        return verified
    ticket = services(router.context).oncall().oncall.find(verified.ticket_id)
    if ticket is None:
        return page(404, "Not found", ["This ticket does not exist any more."])
    if ticket.page_round != verified.round:
        return _stale()
    if ticket.status != Status.OPEN:
        return _handled(ticket)
    return page(200, "Acknowledge this page?", _summary(ticket, verified.level), button="Acknowledge")


@router.post("/ack/<token>", include_in_schema=False)
def acknowledge(token: str) -> Response[str]:
    """Acknowledge the ticket of the page, recording that the level-N page's link did it."""
    verified = _verified(token)
    if isinstance(verified, Response):
        return verified
    result = (
        services(router.context)
        .oncall()
        .oncall.acknowledge(
            verified.ticket_id,
            by=f"level-{verified.level} page link",
            via=AckChannel.LINK,
            round_=verified.round,
            level=verified.level,
        )
    )
    logger.info("ack link used", ticket_id=verified.ticket_id, outcome=str(result.outcome), level=verified.level)
    if result.outcome is Outcome.NOT_PAGED or result.ticket is None:
        return page(404, "Not found", ["This ticket does not exist any more."])
    if result.outcome is Outcome.STALE:
        return _stale()
    if result.outcome is Outcome.ALREADY:
        return _handled(result.ticket)
    return page(
        200,
        "Acknowledged",
        [
            *_summary(result.ticket, verified.level),
            "It is yours: escalation stopped, and whoever was paged is told.",
        ],
    )
