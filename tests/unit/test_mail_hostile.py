"""Property tests: hostile MIME into parse_email. Whatever the bytes, the parser returns a result
or rejects with MailRejected, within a deadline; the input is left as it was; no CR, LF or
NUL reaches a header-derived field (title, names, addresses, ids, file names).

Derandomized with a bounded number of examples, so CI runs the same cases every time."""

from __future__ import annotations

import base64

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support_common.mail import MailLimits, MailRejected, ParsedEmail, parse_email

HOSTILE = settings(
    max_examples=120,
    deadline=3000,  # ms per example: generous for a shared 2-core machine, still a bound
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FORBIDDEN = ("\r", "\n", "\x00")

_charsets = st.sampled_from(
    ["utf-8", "iso-8859-1", "undefined", "utf-7", "gb2312", "x-bogus", "base64", "", "idna"]
)
_nasty_text = st.lists(
    st.sampled_from([*'ab é€中\r\n\x00\t:;=?"<>@,', "=?", "?=", "\r\n", "\r\n "]), max_size=60
).map("".join)


@st.composite
def _encoded_word(draw: st.DrawFn) -> str:
    payload = draw(_nasty_text).encode("utf-8", "surrogatepass")
    charset = draw(_charsets)
    if draw(st.booleans()):
        return f"=?{charset}?B?{base64.b64encode(payload).decode()}?="
    quoted = "".join(f"={byte:02X}" for byte in payload)
    return f"=?{charset}?Q?{quoted}?="


_header_value = st.one_of(_nasty_text, _encoded_word(), st.lists(_encoded_word(), max_size=4).map(" ".join))
_header_name = st.sampled_from(
    ["Subject", "From", "To", "Cc", "Reply-To", "Message-ID", "In-Reply-To", "References", "Content-Type", "X-A"]
)


@st.composite
def _headers(draw: st.DrawFn) -> list[str]:
    fields = [
        f"{name}: {value}" for name, value in draw(st.lists(st.tuples(_header_name, _header_value), max_size=8))
    ]
    if draw(st.integers(0, 9)) == 0:  # a huge header line
        fields.append("Subject: " + "x" * draw(st.integers(10_000, 120_000)))
    if draw(st.integers(0, 9)) == 0:  # many header fields
        fields.extend(f"X-H{i}: v" for i in range(draw(st.integers(100, 600))))
    return fields


@st.composite
def _leaf(draw: st.DrawFn) -> str:
    ctype = draw(st.sampled_from(["text/plain", "text/html", "application/pdf", "message/rfc822", "bogus", ""]))
    cte = draw(st.sampled_from(["", "base64", "quoted-printable", "x-uuencode", "8bit", "weird"]))
    name = draw(st.one_of(st.none(), _header_value))
    lines = [
        f"Content-Type: {ctype}; charset={draw(_charsets)}" + (f'; name="{name}"' if name is not None else "")
    ]
    if cte:
        lines.append(f"Content-Transfer-Encoding: {cte}")
    body = draw(st.one_of(_nasty_text, st.binary(max_size=80).map(lambda b: b.decode("latin-1"))))
    return "\n".join(lines) + "\n\n" + body


@st.composite
def _entity(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 25 or not draw(st.booleans()):
        return draw(_leaf())
    boundary = draw(st.sampled_from(["b", "", "x y", "--", "b" * 70])) + str(depth)
    kind = draw(st.sampled_from(["mixed", "alternative", "related", "signed", "report", "digest"]))
    parts = [draw(_entity(depth + 1)) for _ in range(draw(st.integers(0, 3)))]
    if draw(st.integers(0, 9)) == 0:  # many parts: copies of one small leaf (bounded size)
        parts += [draw(_leaf())[:200]] * draw(st.integers(100, 700))
    closing = draw(st.sampled_from([f"--{boundary}--", f"--{boundary}", ""]))  # broken boundaries too
    body = "".join(f"--{boundary}\n{part}\n" for part in parts) + closing
    return f'Content-Type: multipart/{kind}; boundary="{boundary}"\n\n{body}'


@st.composite
def _message(draw: st.DrawFn) -> bytes:
    text = "\n".join(draw(_headers())) + "\n" + draw(_entity())
    newline = draw(st.sampled_from(["\r\n", "\n", "\r", "mixed"]))
    if newline == "mixed":
        lines = text.split("\n")
        ends = draw(st.lists(st.sampled_from(["\r\n", "\n", "\r"]), min_size=len(lines), max_size=len(lines)))
        text = "".join(line + end for line, end in zip(lines, ends, strict=True))
    else:
        text = text.replace("\n", newline)
    return text.encode("utf-8", "surrogatepass")


def _header_outputs(parsed: ParsedEmail) -> list[str]:
    values = [parsed.title, parsed.subject, parsed.from_name, parsed.from_address, parsed.reply_to]
    values += [parsed.message_id, parsed.in_reply_to, *parsed.references, *parsed.to, *parsed.cc]
    values += [attachment.filename for attachment in parsed.attachments]
    values += [attachment.content_id for attachment in parsed.attachments]
    return [value for value in values if value]


@HOSTILE
@given(_message())
def test_parse_email_hostile_mime_never_crashes_and_keeps_headers_clean(raw: bytes) -> None:
    # GIVEN hostile MIME (deep nesting, many parts and headers, huge lines, broken encodings)
    buffer = bytearray(raw)
    # WHEN parsed
    try:
        parsed = parse_email(buffer)
    except MailRejected as exc:
        rejected = exc.reason
    else:
        rejected = None
    if rejected is not None:
        # THEN either a cap rejects it with a known reason...
        assert rejected in {"too-large", "too-deep", "too-many-parts", "too-many-headers", "header-too-long"}
        return
    # ... or a result comes back, the input untouched, and no header-derived field has CR/LF/NUL
    assert bytes(buffer) == raw
    assert parsed.title
    for value in _header_outputs(parsed):
        assert not any(char in value for char in FORBIDDEN), value


@HOSTILE
@given(st.binary(max_size=4000))
def test_parse_email_random_bytes_never_crash(raw: bytes) -> None:
    # GIVEN arbitrary bytes / WHEN parsed / THEN a result with a title, or a cap's rejection
    try:
        parsed = parse_email(raw, MailLimits(max_headers=50))
    except MailRejected:
        return
    assert parsed.title
    for value in _header_outputs(parsed):
        assert not any(char in value for char in FORBIDDEN), value


@HOSTILE
@given(st.lists(_encoded_word(), min_size=1, max_size=6))
def test_parse_email_encoded_words_with_cr_lf_nul_stay_out_of_title_and_names(words: list[str]) -> None:
    # GIVEN Subject and From display names made of encoded words that decode to CR/LF/NUL
    value = " ".join(words)
    raw = f"From: {value} <a@b.example>\r\nSubject: {value}\r\nReply-To: {value}\r\n\r\nbody".encode()
    # WHEN parsed
    parsed = parse_email(raw)
    # THEN no CR/LF/NUL anywhere in what came from those headers
    for field in (parsed.title, parsed.subject, parsed.from_name or "", parsed.reply_to or ""):
        assert not any(char in field for char in FORBIDDEN), field
    assert parsed.from_address == "a@b.example"
