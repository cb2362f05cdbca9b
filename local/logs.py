"""One readable log stream for every part of the stack, each line prefixed with its part: `[api] ...`.

The functions log JSON to stdout through Powertools, whose handler holds on to the `sys.stdout` it
saw at import. So the stack swaps `sys.stdout` for a writer that prefixes each line with the part
of the thread that wrote it, *before* any function is imported; the parts mark their threads with
`set_part`.
"""

from __future__ import annotations

import io
import logging
import re
import sys
import threading
from typing import TextIO

_current = threading.local()
_lock = threading.Lock()
_WIDTH = 8

# Control characters (C0, DEL, C1): a terminal acts on ESC and CSI, and CR/LF would start a line of
# the caller's choosing. Shown as escapes instead.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# In whole log text the parts' own line breaks and tabs stay; every other control character goes.
_CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or f"\\x{ord(char):02x}"


def escape(value: object) -> str:
    """Text from outside the stack (a request path, a header, an address) as one inert log field.

    CR, LF, ESC and every other control character become visible escapes (`\\r`, `\\n`, `\\x1b`), so a
    client can neither start a forged log line nor send the terminal escape sequences.
    """
    return _CONTROL.sub(_escaped, str(value))


def set_part(name: str) -> None:
    """Mark the calling thread as working for one part: what it prints gets that prefix."""
    _current.part = name


def current_part() -> str:
    return getattr(_current, "part", "local")


def _prefix(part: str) -> str:
    return f"[{part}] ".ljust(_WIDTH + 1)


class PrefixingWriter(io.TextIOBase):
    """A text stream that writes whole lines to `target`, each prefixed with the writer's part."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._pending = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        buffered = getattr(self._pending, "text", "") + text
        *lines, rest = buffered.split("\n")
        self._pending.text = rest
        if lines:
            prefix = _prefix(current_part())
            emit("".join(f"{prefix}{line}\n" for line in lines), self.target)
        return len(text)

    def flush(self) -> None:
        rest = getattr(self._pending, "text", "")
        if rest:
            self._pending.text = ""
            emit(f"{_prefix(current_part())}{rest}\n", self.target)
        self.target.flush()

    def isatty(self) -> bool:
        return self.target.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")


def emit(text: str, target: TextIO | None = None) -> None:
    """Write already-prefixed text atomically, so lines of concurrent parts never interleave.

    Whatever reached a log unescaped (a library's message, a function's print) still cannot send
    the terminal a control character: only line breaks and tabs pass.
    """
    out = target or sys.__stdout__ or sys.stderr
    text = _CONTROL_BUT_LINES.sub(_escaped, text)
    with _lock:
        out.write(text)
        out.flush()


class _PartFormatter(logging.Formatter):
    """`[part] message`: the part is the logger's last name segment (`local.smtp` -> smtp)."""

    def format(self, record: logging.LogRecord) -> str:
        part = record.name.rsplit(".", 1)[-1] if record.name.startswith("local.") else current_part()
        text = super().format(record)
        return "\n".join(_prefix(part) + line for line in text.splitlines())


class _DirectHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            emit(self.format(record) + "\n")
        except Exception:  # logging must never take a part down
            self.handleError(record)


def setup(verbose: bool = False) -> None:
    """Route print/Powertools output and the `local.*` loggers into one prefixed stream."""
    real = sys.__stdout__ or sys.stdout
    sys.stdout = PrefixingWriter(real)
    sys.stderr = PrefixingWriter(sys.__stderr__ or real)
    handler = _DirectHandler()
    handler.setFormatter(_PartFormatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("local").setLevel(logging.DEBUG if verbose else logging.INFO)
    # Every request to moto and every poll would be logged: only problems are worth a line.
    for noisy in ("werkzeug", "botocore", "boto3", "urllib3", "mail.log", "moto"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def get(part: str) -> logging.Logger:
    """The logger of one part: its lines are prefixed `[part]`."""
    return logging.getLogger(f"local.{part}")
