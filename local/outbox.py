"""Mail the pipeline sends through SES, as .eml files in `.local/outbox/`.

moto's SES accepts SendEmail/SendRawEmail (and SESv2's SendEmail, which it routes to the same
backend) and keeps each message in its backend's `sent_messages`. moto runs in this process, so
this part reads that list directly every 250 ms and writes each new message as a file: raw
messages byte for byte, simple ones rebuilt as a MIME message with the headers SES would add.
A message written is removed from the list, which would otherwise grow for as long as the stack
runs (moto's send statistics are a separate counter and stay right).
"""

from __future__ import annotations

import time
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

from local import cfn
from local.poller import Poller
from local.stack import Stack


def to_eml(message: Any) -> bytes:
    """One message of moto's SES backend as the bytes of an .eml file."""
    raw = getattr(message, "raw_data", None)
    if raw is not None:
        return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
    mail = EmailMessage()
    mail["From"] = str(getattr(message, "source", ""))
    destinations = getattr(message, "destinations", {}) or {}
    if isinstance(destinations, dict):
        for header, key in (("To", "ToAddresses"), ("Cc", "CcAddresses"), ("Bcc", "BccAddresses")):
            if destinations.get(key):
                mail[header] = ", ".join(destinations[key])
    mail["Subject"] = str(getattr(message, "subject", "") or "")
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = f"<{getattr(message, 'id', 'unknown')}@email.amazonses.com>"
    body = str(getattr(message, "body", "") or getattr(message, "template_data", "") or "")
    if body.lstrip().lower().startswith(("<html", "<!doctype")):
        mail.set_content(body, subtype="html")
    else:
        mail.set_content(body)
    return bytes(mail)


class Outbox(Poller):
    name = "outbox"

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path()
        self.backend: Any = None
        self.written = 0

    def setup(self, stack: Stack) -> None:
        from moto.ses.models import ses_backends  # moto runs in this process

        self.folder = stack.config.outbox_dir
        self.folder.mkdir(parents=True, exist_ok=True)
        self.backend = ses_backends[cfn.ACCOUNT_ID][stack.region]
        stack.info["outbox_dir"] = str(self.folder.resolve())
        self.log.info("mail sent through SES lands in %s", self.folder)

    def tick(self) -> None:
        sent = self.backend.sent_messages
        while sent:
            message = sent[0]
            message_id = getattr(message, "id", None) or f"message-{self.written}"
            path = self.folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{message_id}.eml"
            # Written aside, then renamed: a reader of the folder never sees half a message.
            partial = path.with_suffix(".part")
            partial.write_bytes(to_eml(message))
            partial.replace(path)
            self.written += 1
            recipients = getattr(message, "destinations", "")
            self.log.info("%s -> %s (%s)", getattr(message, "source", "?"), _short(recipients), path.name)
            # moto only appends: the first message is the one just written.
            del sent[0]


def _short(destinations: Any) -> str:
    if isinstance(destinations, dict):
        found = [a for v in destinations.values() for a in v]
    elif isinstance(destinations, list):
        found = [str(a) for a in destinations]
    else:
        return str(destinations)
    # moto adds the To/Cc headers' addresses to the given destinations: show each once.
    return ", ".join(dict.fromkeys(found))
