"""Focused unit tests of support_common.mail: headers, HTML, quotes, caps, attachments."""

from __future__ import annotations

import base64

import pytest
from support_common.mail import (
    TRUNCATION_MARKER,
    MailLimits,
    MailRejected,
    clean_header_value,
    decode_rfc2047,
    find_ticket_refs,
    html_to_text,
    make_title,
    parse_email,
    robot_reason,
    trim_reply,
)

DOMAIN = "support.example.com"


def _mail(headers: str, body: str = "Body text.\n") -> bytes:
    return (headers.strip("\n") + "\n\n" + body).replace("\n", "\r\n").encode("utf-8")


# -- routing -------------------------------------------------------------------------------


def test_parse_email_subject_encoded_words_are_decoded_and_joined() -> None:
    # GIVEN a subject split into encoded words in two charsets, one splitting a UTF-8 character
    raw = _mail(
        "From: a@b.example\nSubject: =?UTF-8?B?w6k=?= =?utf-8?q?t=C3?= =?utf-8?q?=A9?= =?ISO-8859-1?Q?_caf=E9?="
    )
    # WHEN parsed
    parsed = parse_email(raw)
    # THEN the words are decoded, whitespace between them dropped, the split character rebuilt
    assert parsed.subject == "été café"


def test_parse_email_encoded_crlf_in_subject_cannot_inject_headers() -> None:
    # GIVEN a subject whose encoded word decodes to CR LF and a fake header
    evil = base64.b64encode(b"Hello\r\nBcc: victim@example.com\x00").decode()
    raw = _mail(f"From: a@b.example\nSubject: =?utf-8?B?{evil}?=")
    # WHEN parsed
    parsed = parse_email(raw)
    # THEN no CR, LF or NUL survives in subject or title
    for value in (parsed.subject, parsed.title):
        assert "\r" not in value and "\n" not in value and "\x00" not in value
    assert parsed.subject == "Hello Bcc: victim@example.com"


def test_clean_header_value_strips_controls_and_collapses_space() -> None:
    # GIVEN a value with controls / WHEN cleaned / THEN single-spaced, no controls
    assert clean_header_value(" a\r\n\tb\x00c\x1b  d ") == "a b c d"
    assert clean_header_value(None) == ""


def test_decode_rfc2047_unknown_charset_does_not_raise() -> None:
    # GIVEN an encoded word in a bogus charset / WHEN decoded / THEN text survives
    assert decode_rfc2047("=?NONE?B?VEVTVA==?=") == "TEST"
    assert decode_rfc2047("=?x-bogus?Q?caf=C3=A9?=") == "café"


def test_parse_email_8bit_latin1_header_falls_back_to_cp1252() -> None:
    # GIVEN a raw ISO-8859-1 subject byte string
    raw = b"From: a@b.example\r\nSubject: Verj\xe3o caf\xe9\r\n\r\nbody\r\n"
    # WHEN parsed / THEN decoded as windows-1252 and flagged
    parsed = parse_email(raw)
    assert parsed.subject == "Verjão café"
    assert "header-8bit:Subject" in parsed.defects


def test_parse_email_addresses_and_ids_are_normalized() -> None:
    # GIVEN threading headers and a display name in an encoded word
    raw = _mail(
        "From: =?utf-8?q?J=C3=B6rn?= <Jorn@Example.COM>\nReply-To: Help <HELP@example.com>\n"
        "Message-ID: <abc@x>\nIn-Reply-To: <p1@x>\nReferences: <p0@x>\n <p1@x>\nSubject: Re: hi"
    )
    # WHEN parsed
    parsed = parse_email(raw)
    # THEN addresses are lowercased addr-specs, ids normalized
    assert (parsed.from_name, parsed.from_address, parsed.reply_to) == (
        "Jörn",
        "jorn@example.com",
        "help@example.com",
    )
    assert (parsed.message_id, parsed.in_reply_to, parsed.references) == (
        "<abc@x>",
        "<p1@x>",
        ["<p0@x>", "<p1@x>"],
    )
    assert parsed.is_reply is True


def test_find_ticket_refs_matches_bracketed_ids_case_insensitive() -> None:
    # GIVEN subjects with ticket tokens / THEN ids are found upper-cased, once each
    assert find_ticket_refs("Re: [#inc-7kq2xh] site down [#INC-7KQ2XH] [#PRB-000001]") == [
        "INC-7KQ2XH",
        "PRB-000001",
    ]
    assert find_ticket_refs("[#INC-7KQ2X] [#INCI-7KQ2XH] #INC-7KQ2XH [INC-7KQ2XH]") == []


def test_parse_email_subject_token_makes_a_comment_candidate_and_leaves_title() -> None:
    # GIVEN a reply whose subject names a ticket
    parsed = parse_email(_mail("From: a@b.example\nSubject: RE: AW: [#TSK-AB12CD] Disk full"))
    # THEN the token is extracted and stripped from the title
    assert parsed.ticket_refs == ["TSK-AB12CD"]
    assert parsed.title == "Disk full"
    assert parsed.is_reply is True


def test_make_title_without_subject_uses_first_body_line_cut_at_word() -> None:
    # GIVEN no subject and a long first line
    body = "word " * 100
    # WHEN a title is made / THEN <= 200 chars, cut at a word boundary
    title = make_title("", body)
    assert len(title) <= 200 and title.endswith("word…")
    assert make_title("", "") == "(no subject)"
    assert make_title("Fwd: R: I: Re[2]: Server", "") == "Server"


# -- html ----------------------------------------------------------------------------------


def test_html_to_text_drops_scripts_styles_comments_and_keeps_links() -> None:
    # GIVEN HTML with script, style, comment, a list, a link and entities
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<script>alert('x')</script><!-- hidden --><p>Hello&nbsp;&amp; welcome</p>"
        "<ul><li>one</li><li>two</li></ul>line<br>break "
        '<a href="https://example.com/x">the docs</a> <a href="https://example.com">https://example.com</a>'
        "</body></html>"
    )
    # WHEN converted
    text = html_to_text(html)
    # THEN readable text only
    assert "alert" not in text and "color" not in text and "hidden" not in text and "<" not in text
    assert "Hello & welcome" in text
    assert "- one\n- two" in text
    assert "line\nbreak" in text
    assert "the docs (https://example.com/x)" in text
    assert text.endswith("https://example.com")


def test_html_to_text_strip_quotes_removes_quote_containers() -> None:
    # GIVEN replies quoted by Gmail, Apple Mail, Yahoo and Outlook
    gmail = '<div>New text</div><div class="gmail_quote">On Mon wrote:<blockquote>old</blockquote></div>'
    apple = '<div>New text</div><blockquote type="cite">old</blockquote>'
    yahoo = '<div>New text</div><div class="yahoo_quoted">old</div>'
    outlook = '<p>New text</p><div id="divRplyFwdMsg"><b>From:</b> x</div><div>old</div>'
    outlook_desktop = (
        '<p>New text</p><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3pt">'
        "<p><b>From:</b> x<br><b>Sent:</b> y</p></div><p>old</p>"
    )
    for html in (gmail, apple, yahoo, outlook, outlook_desktop):
        # WHEN converted with strip_quotes / THEN only the new text remains
        assert html_to_text(html, strip_quotes=True) == "New text", html
        assert "old" in html_to_text(html)


def test_html_to_text_hostile_unterminated_tags_finish() -> None:
    # GIVEN input that makes html.parser quadratic (unterminated start tags)
    html = "<a " * 50_000
    # WHEN converted / THEN it finishes and returns the text
    assert html_to_text(html).startswith("<a <a")


# -- quotes and signatures -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Fixed, thanks.\n\nOn Mon, 2 Apr 2012 at 10:00, Bob <bob@example.com> wrote:\n> old\n> older",
        "Fixed, thanks.\n\nOn Mon, 2 Apr 2012 at 10:00, Bob Example\n<bob@example.com> wrote:\n\n> old",
        "Fixed, thanks.\n\nAm 02.04.2012 um 10:00 schrieb Bob <bob@example.com>:\n> old",
        "Fixed, thanks.\n\nLe 2 avr. 2012 à 10:00, Bob a écrit :\n> old",
        "Fixed, thanks.\n\n-----Original Message-----\nFrom: Bob\nSent: Monday\nTo: x\nSubject: old",
        "Fixed, thanks.\n\n----- Original Message -----\nFrom: Bob\nold",
        "Fixed, thanks.\n\nFrom: Bob [mailto:bob@example.com]\nSent: Monday, April 2\nTo: Support\nSubject: old\n\nold",
        "Fixed, thanks.\n\n________________________________\nFrom: Bob\nSent: Monday\nold",
        "Fixed, thanks.\n\n> old\n> older",
        "Fixed, thanks.\n\n-- \nBob Example\nACME Corp",
        "Fixed, thanks.\n\nSent from my iPhone\n\nold",
    ],
)
def test_trim_reply_each_quote_style_is_trimmed(text: str) -> None:
    # GIVEN a reply with quoted history or a signature
    # WHEN trimmed / THEN only the new text remains
    assert trim_reply(text) == "Fixed, thanks."


def test_trim_reply_inline_answers_are_kept() -> None:
    # GIVEN an interleaved reply
    text = "On Mon, Bob wrote:\n> Is it down?\nYes, since 10:00.\n> Which host?\nweb-3"
    # WHEN trimmed / THEN answers stay, quotes go
    assert trim_reply(text) == "Yes, since 10:00.\nweb-3"


def test_trim_reply_never_trims_to_nothing() -> None:
    # GIVEN a text that is only quoted content / WHEN trimmed / THEN the full text is kept
    text = "> forwarded problem report\n> with details"
    assert trim_reply(text) == text
    assert trim_reply("-- \nsig only") == "-- \nsig only"


def test_parse_email_forward_keeps_quoted_content() -> None:
    # GIVEN an inline forward with a short note
    body = (
        "See below.\n\n-----Original Message-----\nFrom: Bob\nSent: Monday\nTo: x\nSubject: outage\n\nDB is down"
    )
    parsed = parse_email(_mail("From: a@b.example\nSubject: FW: outage", body))
    # THEN the forwarded content is part of the description
    assert "DB is down" in parsed.description
    assert parsed.title == "outage"


def test_parse_email_long_description_is_truncated_with_marker() -> None:
    # GIVEN a 100,000-character body
    parsed = parse_email(_mail("From: a@b.example\nSubject: long", "word " * 20_000))
    # THEN the description is capped with the marker, the full text is not
    assert len(parsed.description) <= 16_000
    assert parsed.description.endswith(TRUNCATION_MARKER)
    assert len(parsed.full_text) >= 99_000


# -- attachments ---------------------------------------------------------------------------


def _multipart(parts: list[str]) -> bytes:
    body = "".join(f"--XX\n{part}\n" for part in parts) + "--XX--\n"
    return _mail(
        'From: a@b.example\nSubject: files\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="XX"', body
    )


def test_parse_email_rfc2231_filename_is_decoded() -> None:
    # GIVEN an RFC 2231 continued, percent-encoded UTF-8 filename
    part = (
        "Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
        "Content-Disposition: attachment; filename*0*=utf-8''Rapport%20d%C3%A9;\n filename*1*=taill%C3%A9.pdf\n\n"
        + base64.b64encode(b"%PDF-1.4 hello").decode()
    )
    # WHEN parsed
    parsed = parse_email(_multipart(["Content-Type: text/plain\n\nSee attached.", part]))
    # THEN the name is decoded and the size is the decoded payload's
    [attachment] = parsed.attachments
    assert (attachment.filename, attachment.content_type, attachment.size) == (
        "Rapport détaillé.pdf",
        "application/pdf",
        14,
    )
    assert attachment.content == b"%PDF-1.4 hello"
    assert parsed.description == "See attached."


def test_parse_email_unsafe_or_missing_filenames_are_sanitized() -> None:
    # GIVEN a path-traversal name, an encoded-word name and a nameless image
    parts = [
        'Content-Type: text/plain; name="../../etc/passwd"\nContent-Disposition: attachment\n\nroot',
        'Content-Type: image/png; name="=?utf-8?B?w6kucG5n?="\nContent-Transfer-Encoding: base64\n\niVBORw==',
        "Content-Type: image/jpeg\nContent-Disposition: inline\nContent-ID: <img1>\n\nJPEG",
    ]
    # WHEN parsed
    parsed = parse_email(_multipart(parts))
    # THEN names are safe basenames, generated when missing
    assert [(a.filename, a.size, a.inline) for a in parsed.attachments] == [
        ("passwd", 4, False),
        ("é.png", 4, False),
        ("attachment-3.jpg", 4, True),
    ]
    assert parsed.attachments[2].content_id == "<img1>"


# -- caps ----------------------------------------------------------------------------------


def test_parse_email_too_large_is_rejected_before_parsing() -> None:
    # GIVEN a message over a small size cap
    raw = _mail("From: a@b.example\nSubject: big", "x" * 5000)
    # WHEN parsed / THEN rejected
    with pytest.raises(MailRejected) as caught:
        parse_email(raw, MailLimits(max_size=1000))
    assert caught.value.reason == "too-large"


def test_parse_email_1000_deep_nesting_is_rejected() -> None:
    # GIVEN 1000 nested multiparts
    head = "From: a@b.example\nSubject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n"
    body = "".join(f"--b{i}\nContent-Type: multipart/mixed; boundary=b{i + 1}\n\n" for i in range(1000))
    # WHEN parsed / THEN rejected as too deep (no RecursionError)
    with pytest.raises(MailRejected) as caught:
        parse_email((head + body).encode())
    assert caught.value.reason == "too-deep"


def test_parse_email_10000_parts_are_rejected() -> None:
    # GIVEN 10,000 parts
    head = "From: a@b.example\nSubject: parts\nContent-Type: multipart/mixed; boundary=B\n\n"
    raw = (head + "--B\nContent-Type: text/plain\n\nx\n" * 10_000 + "--B--\n").encode()
    # WHEN parsed / THEN rejected
    with pytest.raises(MailRejected) as caught:
        parse_email(raw)
    assert caught.value.reason == "too-many-parts"


def test_parse_email_too_many_headers_is_rejected() -> None:
    # GIVEN 1000 header fields
    raw = ("".join(f"X-H{i}: v\n" for i in range(1000)) + "\nbody").encode()
    with pytest.raises(MailRejected) as caught:
        parse_email(raw)
    assert caught.value.reason == "too-many-headers"


def test_parse_email_too_many_addresses_is_rejected() -> None:
    # GIVEN a To with 500 addresses
    to = ", ".join(f"user{i}@example.com" for i in range(500))
    with pytest.raises(MailRejected) as caught:
        parse_email(_mail(f"From: a@b.example\nTo: {to}\nSubject: all"))
    assert caught.value.reason == "too-many-addresses"


def test_parse_email_huge_header_block_is_rejected() -> None:
    # GIVEN a 5 MB header field
    raw = b"Subject: " + b"a" * 5_000_000 + b"\r\n\r\nbody"
    with pytest.raises(MailRejected) as caught:
        parse_email(raw)
    assert caught.value.reason == "header-too-long"


def test_parse_email_header_with_20000_params_is_bounded() -> None:
    # GIVEN a Content-Type with 20,000 parameters (quadratic in the stdlib)
    params = "; ".join(f"p{i}=v{i}" for i in range(20_000))
    raw = f"From: a@b.example\nSubject: params\nContent-Type: text/plain; {params}\n\nhello\n".encode()
    # WHEN parsed
    parsed = parse_email(raw)
    # THEN it is parsed (bounded work: truncated field, capped parameters) and flagged
    assert parsed.description == "hello"
    assert parsed.degraded is True
    assert "too-many-params" in parsed.defects


# -- robustness ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe",
        b"\r\n\r\n\r\n",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
        b"Content-Type: text/plain; charset=utf-7\r\n\r\n+AGEAYgBj-",
        b"Content-Type: text/plain; charset=base64\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!",
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nnot base64 @@@",
        b"Content-Type: text/html\r\n\r\n<a href='javascript:x'><<<!--",
        b"Subject: =?utf-8?B?\r\n\r\n=?=",
        b"From \r\nFrom: \xff@\xfe\r\n\r\n",
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a\r\n#86)C\r\n`\r\nend\r\n",
    ],
)
def test_parse_email_garbage_never_raises(raw: bytes) -> None:
    # GIVEN garbage / WHEN parsed / THEN a result with a non-empty title
    parsed = parse_email(raw)
    assert parsed.title


def test_parse_email_cr_only_and_mbox_from_line_work() -> None:
    # GIVEN a CR-only message starting with an mbox "From " line
    raw = b"From someone Mon Jan 1 00:00:00 2024\rFrom: a@b.example\rSubject: cr only\r\rHello there\r"
    # WHEN parsed / THEN headers and body are found
    parsed = parse_email(raw)
    assert (parsed.title, parsed.description, parsed.from_address) == ("cr only", "Hello there", "a@b.example")


# -- robots --------------------------------------------------------------------------------


def test_robot_reason_envelope_null_return_path_is_a_bounce() -> None:
    # GIVEN a human-looking message delivered with a null envelope sender
    parsed = parse_email(_mail("From: a@b.example\nSubject: hello"))
    # WHEN checked with the SES return path / THEN it is a bounce; without it, human
    assert parsed.robot_reason is None
    assert robot_reason(parsed, "<>") == "bounce"
    assert robot_reason(parsed, "a@b.example") is None


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-replied", "auto-submitted"),
        ("Auto-Submitted: auto-generated (failure)", "auto-submitted"),
        ("Precedence: bulk", "precedence"),
        ("Precedence: list", "precedence"),
        ("List-Id: <ops.lists.example.com>", "list"),
        ("X-Autoreply: yes", "auto-reply"),
        ("X-Failed-Recipients: x@y.example", "bounce"),
        ("Content-Type: multipart/report; report-type=delivery-status; boundary=z", "bounce"),
        ("Content-Type: multipart/report; report-type=disposition-notification; boundary=z", "report"),
    ],
)
def test_robot_reason_machine_headers_are_detected(headers: str, reason: str) -> None:
    # GIVEN a message with a machine-mail header
    parsed = parse_email(_mail(f"From: a@b.example\nSubject: hello\n{headers}"))
    # THEN it is classified with that reason
    assert parsed.robot_reason == reason


def test_robot_reason_normal_mail_is_not_a_robot() -> None:
    # GIVEN human mail with harmless look-alikes
    headers = "From: postmaster@customer.example\nSubject: Out of office tomorrow, please call\n"
    headers += "Auto-Submitted: no\nList-Unsubscribe: <mailto:u@x.example>\nX-Autoreply: no"
    # THEN no robot reason
    assert parse_email(_mail(headers)).robot_reason is None


def test_parse_email_encoded_word_in_reply_to_threads_by_the_decoded_id() -> None:
    # GIVEN a reply whose In-Reply-To/References were folded as RFC 2047 words (as Python's email does)
    raw = (
        b"From: alice@acme.example\r\nTo: incident@support.example.com\r\nSubject: Re: down\r\n"
        b"Message-ID: <r1@acme.example>\r\n"
        b"In-Reply-To: =?utf-8?q?=3C0100018f1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d-000000=40eu-west-1=2Eamazonses=2Ecom=3E?=\r\n"
        b"References: =?utf-8?q?=3Cfirst=40acme=2Eexample=3E?= <second@acme.example>\r\n"
        b"\r\nThanks, it works again.\r\n"
    )
    # WHEN parsed
    parsed = parse_email(raw)
    # THEN the ids are the decoded ones, so the reply finds its ticket
    assert parsed.in_reply_to == "<0100018f1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d-000000@eu-west-1.amazonses.com>"
    assert parsed.references == ["<first@acme.example>", "<second@acme.example>"]
