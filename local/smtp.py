"""SES inbound, locally: an SMTP server that stores each message and invokes email_ingest as SES does.

- RCPT: accepted when the template's SES receipt rule would match it (its `Recipients`: a domain
  matches every address at that domain, an address matches itself); with no rule in the template,
  every address at SUPPORT_DOMAIN. Anything else: `550 5.1.1`. Which local parts make tickets is
  email_ingest's decision (an unknown one is a logged rejection), as on AWS.
- DATA: over SES's 40 MB limit: `552` (announced as SIZE in EHLO, so clients learn it up front).
- The message is stored under `inbound/<messageId>` in the raw-mail bucket with the headers SES
  prepends (Return-Path, Received, X-SES-*), then `email_ingest` gets SES's Lambda-action event
  on a worker thread, so the client gets its 250 at once (SES invokes with `InvocationType: Event`).
  A failed invocation is retried twice (after 1 s and 2 s: SES's async retries, shortened).
- Verdicts are PASS unless the message carries a test header, e.g.
  `X-Local-Verdicts: spam=FAIL, dkim=FAIL, spf=GRAY, dmarc=FAIL, virus=FAIL` (keys spam, virus,
  spf, dkim, dmarc; values as SES gives them). Only the local stack reads it; SES would not.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import queue
import secrets
import socket
import string
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from local import cfn, logs
from local.functions import FunctionNotAvailable, LocalFunction, format_exception
from local.stack import Stack

log = logs.get("smtp")

VERDICT_HEADER = "X-Local-Verdicts"
VERDICTS = ("spam", "virus", "spf", "dkim", "dmarc")
RETRY_DELAYS = (1.0, 2.0)
_ID_ALPHABET = string.ascii_lowercase + string.digits


def ses_message_id() -> str:
    """A message id shaped like SES's inbound ones (40 lowercase letters and digits)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(40))


def iso_now(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_verdicts(value: str | None) -> dict[str, str]:
    """`spam=FAIL, dkim=FAIL` -> {"spam": "FAIL", ...}; every verdict defaults to PASS."""
    verdicts = dict.fromkeys(VERDICTS, "PASS")
    for item in (value or "").replace(";", ",").split(","):
        key, _, status = item.partition("=")
        key, status = key.strip().lower(), status.strip().upper()
        if key in verdicts and status:
            verdicts[key] = status
    return verdicts


def recipient_rules(stack: Stack) -> list[str]:
    """What the template's receipt rule matches (lower-cased), else the support domain."""
    resolve = stack.resolver()
    recipients: list[str] = []
    for props in cfn.resources_of_type("AWS::SES::ReceiptRule").values():
        try:
            rule = resolve(props.get("Rule") or {})
        except KeyError as exc:
            log.warning("cannot resolve the receipt rule locally (%s)", exc)
            continue
        if rule.get("Enabled", True):
            recipients += [str(r).lower() for r in rule.get("Recipients") or []]
    return recipients or [stack.names["support_domain"].lower()]


def rule_matches(rules: list[str], address: str) -> bool:
    """SES's recipient matching: an address, a domain, or `.domain` for its subdomains."""
    address = address.strip().strip("<>").lower()
    _, at, domain = address.rpartition("@")
    if not at:
        return False
    for rule in rules:
        if "@" in rule and rule == address:
            return True
        if rule.startswith(".") and domain.endswith(rule):
            return True
        if "@" not in rule and domain == rule:
            return True
    return False


def _unfold(value: Any) -> str:
    return " ".join(str(value).replace("\r", "").split("\n")).replace("\t", " ").strip()


def _addresses(message: email.message.Message, name: str) -> list[str] | None:
    if name not in message:
        return None
    try:
        header = message[name]
        found = [str(a) for a in getattr(header, "addresses", ())]
        return found or [_unfold(header)]
    except Exception:  # a malformed header: SES gives what it can, so does this
        return [_unfold(v) for v in message.get_all(name, [])]


def ses_event(
    *,
    raw: bytes,
    message_id: str,
    mail_from: str,
    recipients: list[str],
    matched: list[str],
    verdicts: dict[str, str],
    function_arn: str,
    received: datetime,
    processing_ms: int,
) -> dict[str, Any]:
    """The event SES's Lambda action sends: headers and verdicts, never the body."""
    plain = email.message_from_bytes(raw, policy=email.policy.compat32)
    headers = [{"name": name, "value": _unfold(value)} for name, value in plain.items()]
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    common: dict[str, Any] = {"returnPath": mail_from}
    for key, name in (
        ("from", "From"),
        ("to", "To"),
        ("cc", "Cc"),
        ("bcc", "Bcc"),
        ("sender", "Sender"),
        ("replyTo", "Reply-To"),
    ):
        found = _addresses(parsed, name)
        if found is not None:
            common[key] = found
    for key, name in (("date", "Date"), ("messageId", "Message-ID"), ("subject", "Subject")):
        if name in plain:
            try:
                common[key] = _unfold(parsed[name]) if key == "subject" else _unfold(plain[name])
            except Exception:
                common[key] = _unfold(plain[name])
    receipt: dict[str, Any] = {
        "timestamp": iso_now(received),
        "processingTimeMillis": processing_ms,
        "recipients": matched,
        "spamVerdict": {"status": verdicts["spam"]},
        "virusVerdict": {"status": verdicts["virus"]},
        "spfVerdict": {"status": verdicts["spf"]},
        "dkimVerdict": {"status": verdicts["dkim"]},
        "dmarcVerdict": {"status": verdicts["dmarc"]},
        "action": {"type": "Lambda", "functionArn": function_arn, "invocationType": "Event"},
    }
    if verdicts["dmarc"] == "FAIL":
        receipt["dmarcPolicy"] = "none"
    return {
        "Records": [
            {
                "eventSource": "aws:ses",
                "eventVersion": "1.0",
                "ses": {
                    "mail": {
                        "timestamp": iso_now(received),
                        "source": mail_from,
                        "messageId": message_id,
                        "destination": recipients,
                        "headersTruncated": False,
                        "headers": headers,
                        "commonHeaders": common,
                    },
                    "receipt": receipt,
                },
            }
        ]
    }


class _Handler:
    """aiosmtpd's hooks: the recipient check, then store and hand over."""

    def __init__(self, part: SmtpInbound) -> None:
        self.part = part

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        logs.set_part("smtp")
        if not rule_matches(self.part.rules, address):
            log.info("RCPT %s rejected: not an address SES receives for", logs.escape(address))
            return f"550 5.1.1 <{address}>: recipient address rejected: not a support address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        logs.set_part("smtp")
        content = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        try:
            message_id = await loop.run_in_executor(None, self.part.receive, envelope, bytes(content))
        except Exception as exc:
            log.error("could not store the message:\n%s", format_exception(exc))
            return "451 4.3.0 local SES could not store the message, try again"
        return f"250 Ok {message_id}"


class SmtpInbound:
    name = "smtp"

    def __init__(self) -> None:
        self.controller: Controller | None = None
        self.rules: list[str] = []
        self.bucket = ""
        self.s3: Any = None
        self.function: LocalFunction | None = None
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.worker: threading.Thread | None = None
        self.hostname = "inbound-smtp.local.amazonaws.com"

    def start(self, stack: Stack) -> None:
        self.rules = recipient_rules(stack)
        self.bucket = stack.names["raw_mail_bucket"]
        self.s3 = stack.client("s3")
        self.function = stack.function("email_ingest")
        port = stack.config.smtp_port or _free_port(stack.config.host)
        self.controller = Controller(
            _Handler(self),
            hostname=stack.config.host,
            port=port,
            data_size_limit=stack.config.smtp_max_size,
            server_hostname=self.hostname,
            ready_timeout=10,
        )
        self.controller.start()
        stack.info["smtp_host"] = stack.config.host
        stack.info["smtp_port"] = port
        self.worker = threading.Thread(target=self._work, name="smtp-invoke", daemon=True)
        self.worker.start()
        log.info(
            "SMTP on %s:%d for %s (max %d MB)",
            stack.config.host,
            port,
            ", ".join(self.rules),
            stack.config.smtp_max_size // (1024 * 1024),
        )

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
        self.queue.put(None)
        if self.worker is not None:
            self.worker.join(timeout=10)

    def receive(self, envelope: Envelope, content: bytes) -> str:
        """Store the message as SES's S3 action does and queue the Lambda action's event."""
        logs.set_part("smtp")
        started = time.monotonic()
        received = datetime.now(UTC)
        message_id = ses_message_id()
        mail_from = envelope.mail_from or ""
        verdicts = parse_verdicts(
            email.message_from_bytes(content, policy=email.policy.compat32).get(VERDICT_HEADER)
        )
        stamp = format_datetime(received)
        prepended = (
            f"Return-Path: <{mail_from}>\r\n"
            f"Received: from local-client by {self.hostname} with SMTP id {message_id}"
            f" for {', '.join(envelope.rcpt_tos)};\r\n {stamp}\r\n"
            f"Authentication-Results: amazonses.com; spf={verdicts['spf'].lower()}"
            f" smtp.mailfrom={mail_from}; dkim={verdicts['dkim'].lower()};"
            f" dmarc={verdicts['dmarc'].lower()}\r\n"
            f"X-SES-Spam-Verdict: {verdicts['spam']}\r\n"
            f"X-SES-Virus-Verdict: {verdicts['virus']}\r\n"
        ).encode()
        raw = prepended + content
        self.s3.put_object(Bucket=self.bucket, Key=f"inbound/{message_id}", Body=raw)
        assert self.function is not None
        event = ses_event(
            raw=raw,
            message_id=message_id,
            mail_from=mail_from,
            recipients=list(envelope.rcpt_tos),
            matched=[r for r in envelope.rcpt_tos if rule_matches(self.rules, r)],
            verdicts=verdicts,
            function_arn=self.function.arn,
            received=received,
            processing_ms=int((time.monotonic() - started) * 1000),
        )
        self.queue.put(event)
        subject = event["Records"][0]["ses"]["mail"]["commonHeaders"].get("subject", "")
        shown = {k: v for k, v in verdicts.items() if v != "PASS"}
        log.info(
            "%s -> %s %r stored as inbound/%s (%d bytes)%s",
            logs.escape(mail_from),
            logs.escape(",".join(envelope.rcpt_tos)),
            subject,
            message_id,
            len(raw),
            f" verdicts {shown}" if shown else "",
        )
        return message_id

    def _work(self) -> None:
        logs.set_part("smtp")
        while True:
            event = self.queue.get()
            if event is None:
                return
            self._invoke(event)

    def _invoke(self, event: dict[str, Any]) -> None:
        assert self.function is not None
        message_id = event["Records"][0]["ses"]["mail"]["messageId"]
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            if delay:
                time.sleep(delay)
            started = time.monotonic()
            try:
                result = self.function.invoke(event)
            except FunctionNotAvailable:
                log.warning("email_ingest not available: %s stays in the bucket, not processed", message_id)
                return
            except Exception as exc:
                log.error(
                    "email_ingest failed on %s (attempt %d):\n%s", message_id, attempt + 1, format_exception(exc)
                )
                continue
            log.info(
                "email_ingest <- %s ok in %.0f ms%s",
                message_id,
                (time.monotonic() - started) * 1000,
                f": {result}" if result else "",
            )
            return
        log.error("email_ingest gave up on %s after %d attempts", message_id, len(RETRY_DELAYS) + 1)


def _free_port(host: str) -> int:
    # aiosmtpd connects to its own port to check it is up, so it needs a real port, not 0.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
