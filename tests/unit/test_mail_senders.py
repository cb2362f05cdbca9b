# ruff: noqa: RUF001  (the test messages are written in Chinese and Russian)
"""parse_email on mail that real senders send: odd charsets, header blocks without a blank line,
mixed line ends, empty boundaries, format=flowed. Each message is built here, byte for byte."""

from __future__ import annotations

import base64

from support_common.mail import parse_email

PDF = b"%PDF-1.4 minimal"


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


def _mixed(parts: list[bytes], headers: str = "From: Ann <ann@acme.example>\nSubject: files\n") -> bytes:
    head = _crlf(headers + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"\n\n')
    body = b"".join(b"--B\r\n" + part + b"\r\n" for part in parts)
    return head + body + b"--B--\r\n"


def _pdf_part() -> bytes:
    return _crlf(
        'Content-Type: application/pdf; name="report.pdf"\nContent-Transfer-Encoding: base64\n'
        'Content-Disposition: attachment; filename="report.pdf"\n\n'
    ) + base64.b64encode(PDF)


# -- charsets ------------------------------------------------------------------------------


def test_parse_email_undefined_charset_body_keeps_text_and_attachments() -> None:
    # GIVEN a body labelled with the codec name "undefined" (it raises a bare UnicodeError)
    text = _crlf("Content-Type: text/plain; charset=undefined\n\nThe backup job failed at 02:00.")
    raw = _mixed([text, _pdf_part()])
    # WHEN parsed
    parsed = parse_email(raw)
    # THEN the structured parse holds: the text is the description, the PDF is attached
    assert parsed.description == "The backup job failed at 02:00."
    assert [(a.filename, a.content) for a in parsed.attachments] == [("report.pdf", PDF)]
    assert not any(d.startswith("parser-error") for d in parsed.defects)
    assert "unknown-charset:undefined" in parsed.defects


def test_parse_email_undefined_charset_in_subject_keeps_title_and_sender() -> None:
    # GIVEN encoded words in the "undefined" charset in Subject and From
    raw = _crlf(
        "From: =?undefined?Q?Bob_Smith?= <Bob@Acme.example>\n"
        "Subject: =?undefined?Q?Printer_jammed_on_floor_3?=\n\nIt jams on every page."
    )
    # WHEN parsed
    parsed = parse_email(raw)
    # THEN title, sender and text survive
    assert parsed.title == "Printer jammed on floor 3"
    assert (parsed.from_name, parsed.from_address) == ("Bob Smith", "bob@acme.example")
    assert parsed.description == "It jams on every page."


def test_parse_email_gb2312_label_on_utf8_body_is_read_as_utf8() -> None:
    # GIVEN a body labelled GB2312 whose bytes are UTF-8 (no mojibake wanted)
    text = "服务器从昨晚开始无法访问，请尽快处理。"
    raw = (
        _crlf("From: li@example.cn\nSubject: outage\nContent-Type: text/plain; charset=gb2312\n\n") + text.encode()
    )
    # WHEN parsed / THEN the UTF-8 text is read as such and the mislabel is noted
    parsed = parse_email(raw)
    assert parsed.description == text
    assert "charset-mislabelled:gb2312" in parsed.defects


def test_parse_email_real_gb2312_and_koi8r_bodies_stay_decoded_by_their_label() -> None:
    # GIVEN bodies really in GB2312 and KOI8-R
    for charset, text in (("gb2312", "服务器无法访问"), ("koi8-r", "Сервер не отвечает")):
        raw = _crlf(f"From: a@b.example\nSubject: s\nContent-Type: text/plain; charset={charset}\n\n")
        # WHEN parsed / THEN decoded with the declared charset
        assert parse_email(raw + text.encode(charset)).description == text


def test_parse_email_raw_8bit_subject_uses_the_body_charset() -> None:
    # GIVEN a raw (not encoded-word) KOI8-R Subject and From name, and a body declared KOI8-R
    raw = (
        b"From: " + "Иван".encode("koi8-r") + b" <ivan@example.ru>\r\n"
        b"Subject: " + "Не работает почта".encode("koi8-r") + b"\r\n"
        b"Content-Type: text/plain; charset=koi8-r\r\n\r\n" + "Письма не уходят.".encode("koi8-r")
    )
    # WHEN parsed
    parsed = parse_email(raw)
    # THEN subject and name are decoded with KOI8-R, not windows-1252
    assert parsed.title == "Не работает почта"
    assert parsed.from_name == "Иван"
    assert parsed.description == "Письма не уходят."


# -- header blocks without a blank line ---------------------------------------------------


def test_parse_email_missing_blank_line_body_with_colon_line_is_not_a_header() -> None:
    # GIVEN no blank line before a body whose second line looks like "Word: text"
    raw = _crlf(
        "From: ann@acme.example\nTo: incident@support.example.com\nSubject: Help\n"
        "Hello team,\nNote: the server is down since 9:00\nThanks, Ann\n"
    )
    # WHEN parsed
    parsed = parse_email(raw)
    # THEN the title is the subject alone and every body line is in the description
    assert parsed.title == "Help"
    assert parsed.description == "Hello team,\nNote: the server is down since 9:00\nThanks, Ann"
    assert parsed.header("note") is None


def test_parse_email_missing_blank_line_first_body_line_with_colon_is_body() -> None:
    # GIVEN a body starting with "Error: ..." right after the header fields
    raw = _crlf("From: ann@acme.example\nSubject: Disk\nError: disk full on web-3\nPlease help.\n")
    # WHEN parsed / THEN that line is the start of the description, not an "Error" header
    parsed = parse_email(raw)
    assert parsed.description == "Error: disk full on web-3\nPlease help."
    assert parsed.header("error") is None
    assert parsed.title == "Disk"


def test_parse_email_broken_fold_of_an_address_list_stays_in_its_field() -> None:
    # GIVEN a To list folded without leading whitespace, followed by more header fields
    raw = _crlf("From: ann@acme.example\nTo: ops@acme.example,\nbob@acme.example\nSubject: Rack 4\n\nFan noise.")
    # WHEN parsed / THEN the stray line is part of To, the later fields are still headers
    parsed = parse_email(raw)
    assert parsed.to == ["ops@acme.example", "bob@acme.example"]
    assert (parsed.title, parsed.description) == ("Rack 4", "Fan noise.")


# -- line ends and boundaries ---------------------------------------------------------------


def test_parse_email_cr_only_part_after_64kb_is_split_into_lines() -> None:
    # GIVEN a CRLF message whose second part, past the first 64 KB, has CR-only line ends
    first = _crlf("Content-Type: text/plain\n\n") + b"log line\r\n" * 8000
    second = b'Content-Type: text/plain; name="notes.txt"\rContent-Disposition: attachment\r\rstep 1\rstep 2'
    raw = _crlf("From: a@b.example\nSubject: logs\nContent-Type: multipart/mixed; boundary=B\n\n")
    raw += b"--B\r\n" + first + b"\r\n--B\r" + second + b"\r--B--\r"
    # WHEN parsed
    parsed = parse_email(raw)
    # THEN the CR-only part is an attachment with its own lines
    assert [(a.filename, a.content) for a in parsed.attachments] == [("notes.txt", b"step 1\nstep 2")]
    assert "cr-line-endings" in parsed.defects


def test_parse_email_cr_only_head_then_crlf_part_keeps_its_headers() -> None:
    # GIVEN a message with CR-only line ends for 70 KB, then a CRLF base64 part
    head = b"From: a@b.example\rSubject: mixed\rContent-Type: multipart/mixed; boundary=B\r\r"
    head += b"--B\rContent-Type: text/plain\r\r" + b"text line\r" * 7000
    raw = head + b"--B\r\n" + _pdf_part() + b"\r\n--B--\r\n"
    # WHEN parsed / THEN the PDF part's headers were read (decoded, named), the text is there
    parsed = parse_email(raw)
    assert [(a.filename, a.content) for a in parsed.attachments] == [("report.pdf", PDF)]
    assert parsed.description.startswith("text line\ntext line")


def test_parse_email_empty_boundary_parts_are_split() -> None:
    # GIVEN boundary="" (delimiter lines "--" and "----")
    raw = _crlf(
        'From: a@b.example\nSubject: empty boundary\nContent-Type: multipart/mixed; boundary=""\n\n'
        "--\nContent-Type: text/plain\n\nThe VPN drops every hour.\nSince Monday.\n"
        '--\nContent-Type: text/plain; name="vpn.log"\n\ndrop 10:00\n----\n'
    )
    # WHEN parsed
    parsed = parse_email(raw)
    # THEN the text is the description (not cut at "--" as a signature), the log is attached
    assert parsed.description == "The VPN drops every hour.\nSince Monday."
    assert [(a.filename, a.content) for a in parsed.attachments] == [("vpn.log", b"drop 10:00")]


# -- format=flowed --------------------------------------------------------------------------


def test_parse_email_format_flowed_soft_breaks_are_rejoined() -> None:
    # GIVEN format=flowed text with soft breaks, a space-stuffed line and a quote
    body = (
        "The nightly export stops at the \nsecond file and never \nresumes.\n"
        " From then on nothing works.\n\n> Did it work \n> yesterday?\n"
    )
    raw = _crlf(f"From: a@b.example\nSubject: s\nContent-Type: text/plain; format=flowed\n\n{body}")
    # WHEN parsed
    parsed = parse_email(raw)
    # THEN paragraphs are single lines, stuffing removed, quotes rejoined (and trimmed)
    assert (
        parsed.description
        == "The nightly export stops at the second file and never resumes.\nFrom then on nothing works."
    )
    assert "> Did it work yesterday?" in parsed.full_text


def test_parse_email_format_flowed_delsp_removes_the_added_space() -> None:
    # GIVEN DelSp=yes text (the sender broke inside words and added the space)
    body = "Unbelieva \nbly slow: the dash \nboard takes a minute.\n\n-- \nAnn"
    raw = _crlf(f"From: a@b.example\nSubject: s\nContent-Type: text/plain; format=flowed; delsp=yes\n\n{body}")
    # WHEN parsed / THEN the words are whole again and the signature is still trimmed
    parsed = parse_email(raw)
    assert parsed.description == "Unbelievably slow: the dashboard takes a minute."
