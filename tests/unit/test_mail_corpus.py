"""parse_email over every message of the real-world corpus (tests/mail-corpus).

The expected outcome of each message was decided by reading the raw message, not by running
the parser: ``ticket`` (new ticket), ``comment`` (a comment candidate: In-Reply-To/References
or a ``[#ID]`` subject token), ``robot:<reason>`` (machine mail, never a ticket) or
``rejected:<reason>`` (a cap of MailLimits).
"""

from __future__ import annotations

import pytest
from support_common.mail import MailRejected, ParsedEmail, parse_email

from tests.unit.mailcorpus import corpus_files, load

EXPECTED_OUTCOME: dict[str, str] = {
    # flanker
    "flanker/8bitmime.eml": "ticket",
    "flanker/aol.eml": "robot:report",  # ARF abuse report (multipart/report feedback-report)
    "flanker/apache-message-news-mime.eml": "robot:precedence",  # list copy, Precedence: bulk
    "flanker/attached-pdf.eml": "ticket",
    "flanker/bilingual-simple.eml": "ticket",
    "flanker/broken-ctype.eml": "ticket",
    "flanker/broken-mime.eml": "robot:bounce",  # postmaster, "Undeliverable Mail"
    "flanker/delayed-broken.eml": "robot:bounce",  # bare message/delivery-status
    "flanker/enclosed-broken.eml": "ticket",
    "flanker/enclosed.eml": "ticket",
    "flanker/false-multipart.eml": "ticket",
    "flanker/from-encoding.eml": "robot:precedence",  # Apache list mail, Precedence: bulk
    "flanker/gmail-invalid-address.eml": "robot:bounce",
    "flanker/iphone.eml": "ticket",
    "flanker/long-header.eml": "ticket",  # 200 KB Subject: truncated, not rejected
    "flanker/long-links.eml": "ticket",  # postmaster@ sender but a human subject
    "flanker/mailformed-headers.eml": "ticket",
    "flanker/mailgun-pic.eml": "ticket",
    "flanker/missing-boundaries.eml": "ticket",
    "flanker/missing-final-boundary.eml": "ticket",
    "flanker/multi-received-headers.eml": "comment",  # In-Reply-To
    "flanker/no-ctype.eml": "ticket",
    "flanker/office365.eml": "robot:bounce",
    "flanker/outlook-express.eml": "ticket",
    "flanker/russian-attachment-yahoo.eml": "ticket",
    "flanker/signed.eml": "ticket",
    "flanker/text-only.eml": "ticket",
    "flanker/torture-part.eml": "ticket",
    # mikel/mail
    "mikel-mail/attachment_message_rfc822.eml": "ticket",
    "mikel-mail/attachment_message_rfc822_inline_image.eml": "ticket",
    "mikel-mail/attachment_only_email.eml": "ticket",
    "mikel-mail/attachment_pdf.eml": "ticket",
    "mikel-mail/attachment_with_base64_encoded_name.eml": "comment",
    "mikel-mail/attachment_with_quoted_filename.eml": "ticket",
    "mikel-mail/bad_date_header.eml": "robot:precedence",  # Precedence: junk
    "mikel-mail/bad_encoded_subject.eml": "ticket",
    "mikel-mail/bad_subject.eml": "ticket",  # a survey mailing without any list/bulk header
    "mikel-mail/basic_email.eml": "ticket",
    "mikel-mail/content_transfer_encoding_empty.eml": "ticket",
    "mikel-mail/content_transfer_encoding_with_8bits.eml": "ticket",
    "mikel-mail/content_transfer_encoding_x_uuencode.eml": "comment",
    "mikel-mail/empty_group_lists.eml": "ticket",
    "mikel-mail/empty_in_reply_to.eml": "robot:list",  # List-Id
    "mikel-mail/encoding_madness.eml": "ticket",
    "mikel-mail/example14.eml": "comment",
    "mikel-mail/header_fields_with_empty_values.eml": "ticket",
    "mikel-mail/invalid_subject_characters.eml": "ticket",
    "mikel-mail/japanese_attachment_long_name.eml": "ticket",
    "mikel-mail/japanese_shift_jis.eml": "ticket",
    "mikel-mail/ks_c_5601-1987.eml": "ticket",
    "mikel-mail/missing_body.eml": "ticket",
    "mikel-mail/multi_address_bounce1.eml": "robot:bounce",
    "mikel-mail/multipart_report_multiple_status.eml": "robot:bounce",
    "mikel-mail/multiple_content_types.eml": "ticket",
    "mikel-mail/raw_email.eml": "ticket",
    "mikel-mail/raw_email10.eml": "ticket",
    "mikel-mail/raw_email2.eml": "comment",
    "mikel-mail/raw_email5.eml": "ticket",
    "mikel-mail/raw_email_bad_time.eml": "ticket",
    "mikel-mail/raw_email_incorrect_header.eml": "ticket",
    "mikel-mail/raw_email_reply.eml": "comment",
    "mikel-mail/raw_email_with_binary_encoded.eml": "ticket",
    "mikel-mail/raw_email_with_illegal_boundary.eml": "ticket",
    "mikel-mail/raw_email_with_mimepart_without_content_type.eml": "robot:bounce",
    "mikel-mail/raw_email_with_nested_attachment.eml": "ticket",
    "mikel-mail/report_422.eml": "robot:bounce",  # delay warning DSN
    "mikel-mail/sig_only_email.eml": "ticket",  # "Re:" but no threading header
    "mikel-mail/two_from_in_message.eml": "comment",
    "mikel-mail/utf8_headers.eml": "ticket",
    # MimeKit
    "mimekit/bounce.eml": "robot:bounce",
    "mimekit/delivery-status-no-blank-line.eml": "robot:bounce",
    "mimekit/disposition-notification.eml": "robot:report",  # read receipt (MDN)
    "mimekit/empty-multipart.eml": "ticket",
    "mimekit/epilogue.eml": "comment",  # References
    "mimekit/feedback-report.eml": "robot:report",  # ARF, file starts with a UTF-8 BOM
    "mimekit/gmail.eml": "ticket",
    "mimekit/issue358.eml": "comment",
    "mimekit/japanese.eml": "ticket",
    "mimekit/message-partial.0.eml": "ticket",
    "mimekit/missing-subtype.eml": "ticket",
    "mimekit/multipart-no-end-boundary.eml": "ticket",
    "mimekit/multipart-related-mhtml.eml": "ticket",
    "mimekit/related.eml": "ticket",
    "mimekit/simple-embedded-message.eml": "ticket",
    "mimekit/stack-overflow.eml": "ticket",  # 135 KB To: truncated, bounded time
    "mimekit/thunderbird-signed.eml": "ticket",
    "mimekit/ukr.eml": "ticket",
    # sisimai
    "sisimai/is-not-bounce-02.eml": "ticket",
    "sisimai/lhost-amazonses-01.eml": "robot:bounce",
    "sisimai/lhost-domino-02.eml": "robot:bounce",
    "sisimai/lhost-exchange2003-01.eml": "robot:bounce",  # non-MIME NDR, Return-Path: <>
    "sisimai/lhost-exchange2007-01.eml": "robot:bounce",
    "sisimai/lhost-exim-01.eml": "robot:bounce",
    "sisimai/lhost-googleworkspace-01.eml": "robot:bounce",
    "sisimai/lhost-mailru-01.eml": "robot:bounce",
    "sisimai/lhost-office365-01.eml": "robot:bounce",
    "sisimai/lhost-outlook-01.eml": "robot:bounce",
    "sisimai/lhost-postfix-01.eml": "robot:bounce",
    "sisimai/lhost-qmail-01.eml": "robot:bounce",
    "sisimai/lhost-sendmail-01.eml": "robot:bounce",
    "sisimai/rb-issue-368-bug.eml": "robot:auto-submitted",
    "sisimai/rfc3834-01.eml": "robot:auto-submitted",
    "sisimai/rfc3834-02.eml": "robot:auto-reply",  # X-Auto-Response-Suppress + "Automatic reply:"
    "sisimai/rfc3834-03.eml": "robot:auto-reply",  # X-Apple-Action: VACATION
    "sisimai/rfc3834-04.eml": "robot:auto-reply",
    "sisimai/rfc3834-05.eml": "robot:auto-submitted",
    "sisimai/rfc3834-06.eml": "robot:auto-submitted",
    "sisimai/rhost-outlook-01.eml": "robot:bounce",  # CR-only line endings
    # talon: replies without threading headers are new tickets
    "talon/aol.eml": "ticket",
    "talon/apple_mail_2.eml": "comment",
    "talon/hotmail.eml": "ticket",
    "talon/iphone.eml": "ticket",
    "talon/outlook.eml": "ticket",
    "talon/thunderbird.eml": "ticket",
    "talon/yahoo.eml": "comment",
}

ALL_FILES = corpus_files()


def classify(raw: bytes) -> tuple[str, ParsedEmail | None]:
    try:
        parsed = parse_email(raw)
    except MailRejected as exc:
        return f"rejected:{exc.reason}", None
    if parsed.robot_reason:
        return f"robot:{parsed.robot_reason}", parsed
    return ("comment" if parsed.is_reply else "ticket"), parsed


def test_corpus_table_covers_every_file_exactly() -> None:
    # GIVEN the corpus copy and the expectation table
    # WHEN they are compared
    # THEN every file has exactly one expectation and there are 115 of them
    assert sorted(EXPECTED_OUTCOME) == ALL_FILES
    assert len(ALL_FILES) == 115


@pytest.mark.parametrize("name", ALL_FILES)
def test_parse_email_corpus_message_has_deliberate_outcome(name: str) -> None:
    # GIVEN a real-world message
    raw = load(name)
    # WHEN it is parsed (any exception other than MailRejected fails the test)
    outcome, parsed = classify(raw)
    # THEN the outcome is the one decided by reading the message, and a ticket can be built
    assert outcome == EXPECTED_OUTCOME[name]
    if parsed is not None:
        assert parsed.title.strip()
        assert len(parsed.title) <= 200
        assert "\n" not in parsed.title and "\r" not in parsed.title
        assert len(parsed.description) <= 16_000
        for attachment in parsed.attachments:
            assert attachment.filename and "/" not in attachment.filename and "\\" not in attachment.filename
            assert attachment.size == len(attachment.content)


def _attachments(parsed: ParsedEmail) -> list[tuple[str, str, int]]:
    return [(a.filename, a.content_type, a.size) for a in parsed.attachments]


# (file, exact title, description start, attachments (name, type, size), extra checks)
# Written from the raw messages (sizes: length of the decoded payloads).
DETAILS: list[tuple[str, str, str, list[tuple[str, str, int]]]] = [
    # replies, each quote style: only the new text is kept
    ("talon/aol.eml", "Test", "Hello", []),  # -----Original Message-----
    ("talon/outlook.eml", "Test", "Hello", []),  # From:/Sent:/To:/Subject: block
    ("talon/yahoo.eml", "Test", "Hello", []),  # ----- Original Message -----
    ("talon/hotmail.eml", "Test", "Hello", []),  # "> " quoted header block
    ("talon/thunderbird.eml", "Test", "Hello", []),  # On ... wrote: (bottom-posted)
    ("talon/iphone.eml", "Test", "Hello", []),  # QP-split "wrote:" + Sent from my iPhone
    ("talon/apple_mail_2.eml", "Hello there", "Hello", []),  # "> On ... wrote:"
    ("mikel-mail/two_from_in_message.eml", "Sending messages include last little bit", "When sending email:", []),
    ("mimekit/issue358.eml", "FR-selca LA selcaE", "Test headers", []),  # R: R: R: I: prefixes
    # plain text, charsets and encoded words
    ("mikel-mail/basic_email.eml", "Testing 123", "Plain email.", []),
    ("flanker/bilingual-simple.eml", "Simple text. How are you? Как ты поживаешь?", "This line is in English", []),
    (
        "mimekit/japanese.eml",
        "日本語メールテスト (testing Japanese emails)",
        "Let's see if both subject and body",
        [],
    ),
    ("mikel-mail/example14.eml", "TEST テストテスト", "Hello", []),  # ISO-2022-JP
    ("mikel-mail/japanese_shift_jis.eml", "test", "あいうえお", []),
    ("mikel-mail/ks_c_5601-1987.eml", "test", "스티해", []),
    ("mimekit/ukr.eml", "rr test 7", "шостий", [("winmail.dat", "application/ms-tnef", 9566)]),  # KOI8-R, TNEF
    ("mikel-mail/raw_email.eml", "NOTE: 한국말로 하는 것", "", []),  # EUC-KR encoded word
    # 8-bit bytes in headers
    (
        "mikel-mail/attachment_pdf.eml",
        "Another PDF with \U0001f389 Unicode chars in it \U0001f37f",
        "Just attaching another PDF, here, to see",
        [("broken.pdf", "application/pdf", 1026)],
    ),
    (
        "mikel-mail/invalid_subject_characters.eml",
        "Formação FrenetikPolis: Mega Campanha Final Verão | Cursos de Setembro",
        "TEST",
        [],
    ),
    ("mikel-mail/utf8_headers.eml", "Säying Hello", "body", []),
    # attachments and file names
    (
        "mikel-mail/attachment_with_base64_encoded_name.eml",
        "Signed email causes file attachments",
        "We should not include these files or vcards as attachments.",
        [("This is a test.pdf", "application/pdf", 399)],
    ),
    (
        "mikel-mail/attachment_with_quoted_filename.eml",
        "Eelanalüüsi päring",
        "",
        [("Eelanalüüsi päring.jpg", "image/jpeg", 1952)],
    ),
    (
        "flanker/russian-attachment-yahoo.eml",
        "Hello",
        "Hello",
        [("Картинка с очень, очень длинным предлинным именем преименем таким чт", "image/png", 178213)],  # noqa: RUF001
    ),
    (
        "mikel-mail/attachment_only_email.eml",
        "this message JUST contains an attachment",
        "",
        [("blah.gz", "application/x-gzip", 288)],
    ),
    ("flanker/mailgun-pic.eml", "Mailgun rocks!", "", [("mailgun.png", "image/png", 60168)]),
    ("flanker/iphone.eml", "Subject", "Hello", [("photo.JPG", "image/jpeg", 9023)]),
    # inline images (multipart/related)
    (
        "mimekit/related.eml",
        "Google DKIM-Signature test for issue #181",
        "This is the message body.",
        [("Christopher-Lloyd-as-Doc-Brown.jpg", "image/jpeg", 156223)],
    ),
    # signed
    (
        "mimekit/thunderbird-signed.eml",
        "This is a test of signing with S/MIME",
        "This message is being generated",
        [("signed.jpg", "image/jpeg", 152804), ("smime.p7s", "application/pkcs7-signature", 4234)],
    ),
    (
        "mikel-mail/raw_email_with_nested_attachment.eml",
        "Testing attachments",
        "Here is a test of an attachment",
        [("truncated.png", "image/png", 1902), ("smime.p7s", "application/pkcs7-signature", 939)],
    ),
    # forwards as attached messages: .eml attachment + text under a heading
    ("mikel-mail/attachment_message_rfc822.eml", "testing", "This is the first part.", []),
    ("flanker/enclosed.eml", "Wow", "Hello", []),
    # broken MIME
    ("flanker/missing-final-boundary.eml", "Test", "Some body", []),
    ("mikel-mail/raw_email_with_illegal_boundary.eml", "Testing outlook", "Hello\nThis is an outlook test", []),
    (
        "mimekit/multipart-no-end-boundary.eml",
        "Multipart message without closing boundary",
        "Multipart message without closing boundary",
        [],
    ),
    ("flanker/no-ctype.eml", "Testing message parsing", "Hello,\nI'm just testing message parsing", []),
    (
        "mikel-mail/raw_email_incorrect_header.eml",
        "Stop adware/spyware once and for all.",
        "You are infected with:",
        [],
    ),
    # long headers (bounded, truncated)
    ("mimekit/stack-overflow.eml", "Message Subject", "Message Body", []),
    # CR-only line endings
    (
        "sisimai/rhost-outlook-01.eml",
        "Delivery Status Notification (Failure)",
        "This is an automatically generated",
        None,
    ),  # type: ignore[list-item]
]


@pytest.mark.parametrize(
    ("name", "title", "description_start", "attachments"), DETAILS, ids=[d[0] for d in DETAILS]
)
def test_parse_email_corpus_message_fields_match_the_raw_message(
    name: str, title: str, description_start: str, attachments: list[tuple[str, str, int]] | None
) -> None:
    # GIVEN a corpus message whose fields were read from the raw bytes
    raw = load(name)
    # WHEN it is parsed
    parsed = parse_email(raw)
    # THEN title, description start and attachments are exactly those
    assert parsed.title == title
    assert parsed.description.startswith(description_start)
    if attachments is not None:
        actual = [a for a in _attachments(parsed) if a[1] != "message/rfc822"]
        assert actual == attachments


def test_parse_email_reply_quote_styles_drop_the_history() -> None:
    # GIVEN replies with each quote style (the history holds "Hi" or "Test")
    for name in (
        "talon/aol.eml",
        "talon/outlook.eml",
        "talon/yahoo.eml",
        "talon/hotmail.eml",
        "talon/thunderbird.eml",
        "talon/iphone.eml",
        "talon/apple_mail_2.eml",
    ):
        # WHEN parsed
        parsed = parse_email(load(name))
        # THEN the description is only the new text, the full text keeps the history
        assert parsed.description == "Hello", name
        assert "Hi" in parsed.full_text, name


def test_parse_email_attached_rfc822_is_eml_attachment_and_forwarded_text() -> None:
    # GIVEN an Apple Mail message with a forwarded message/rfc822 holding a PDF
    parsed = parse_email(load("mikel-mail/attachment_message_rfc822.eml"))
    # THEN the embedded message is an .eml attachment holding the PDF part, its text is appended
    names = [(a.filename, a.content_type) for a in parsed.attachments]
    assert names == [("ForwardedMessage.eml", "message/rfc822")]
    assert b'filename="broken.pdf"' in parsed.attachments[0].content
    assert "---------- Forwarded message ----------\nFrom: Test Tester <xxxx@xxxx.com>" in parsed.description
    assert "Subject: Another PDF" in parsed.description
    assert "Just attaching another PDF" in parsed.description


def test_parse_email_html_only_message_is_converted() -> None:
    # GIVEN an HTML-only Thunderbird message
    parsed = parse_email(load("flanker/long-links.eml"))
    # THEN it is flagged html_only, has no tags, and keeps its links
    assert parsed.html_only is True
    assert "<" not in parsed.description
    assert "http://www.longurlmaker.com/" in parsed.description
    assert parsed.title == "Please enjoy this mega long link"


def test_parse_email_gmail_quote_in_html_and_text_is_trimmed() -> None:
    # GIVEN a Gmail reply with a gmail_quote wrapper
    parsed = parse_email(load("mikel-mail/two_from_in_message.eml"))
    # THEN the quoted "On ... wrote:" part is not in the description
    assert "wrote:" not in parsed.description
    assert parsed.in_reply_to == "<8fc5086d0912020131y377ba0ccpf8f14783cfc3014a@test.com>"


def test_parse_email_long_subject_header_is_truncated_and_flagged() -> None:
    # GIVEN a message with a 200 KB Subject made of encoded words
    parsed = parse_email(load("flanker/long-header.eml"))
    # THEN the title is the start of the decoded subject, cut at a word, and the mail is degraded
    assert parsed.title.startswith("Die heiße Zypernsonne quälte Max und Victoria ja böse auf dem Weg")
    assert len(parsed.title) <= 200
    assert parsed.degraded is True
    assert "header-truncated:Subject" in parsed.defects
    assert parsed.description == "test"


def test_parse_email_broken_messages_are_degraded() -> None:
    # GIVEN messages known to be broken (missing boundary, CR-only, unknown encodings)
    for name in (
        "flanker/missing-final-boundary.eml",
        "sisimai/rhost-outlook-01.eml",
        "mikel-mail/content_transfer_encoding_with_8bits.eml",
        "mikel-mail/missing_body.eml",
        "flanker/false-multipart.eml",
        "mimekit/feedback-report.eml",
    ):
        # WHEN parsed
        parsed = parse_email(load(name))
        # THEN they are flagged "parsed with problems"
        assert parsed.degraded is True, name
        assert parsed.defects, name


def test_parse_email_clean_messages_are_not_degraded() -> None:
    # GIVEN well-formed messages
    for name in ("talon/aol.eml", "mimekit/gmail.eml", "mimekit/related.eml", "flanker/enclosed.eml"):
        # THEN no defect is reported
        parsed = parse_email(load(name))
        assert parsed.degraded is False, (name, parsed.defects)


def test_parse_email_unknown_charset_keeps_text() -> None:
    # GIVEN a message declaring charset X-UNKNOWN
    parsed = parse_email(load("mikel-mail/raw_email10.eml"))
    # THEN the body text survives
    assert parsed.description.startswith("Test test. Hi. Waving. m")


def test_parse_email_no_subject_title_comes_from_body() -> None:
    # GIVEN an MHTML message without Subject whose related root (type="text/html") is NOT first
    parsed = parse_email(load("mimekit/multipart-related-mhtml.eml"))
    # THEN the HTML root is the body, the title is its first line, the image is inline
    assert parsed.subject == ""
    assert parsed.title == "def"
    assert parsed.description == "def"
    assert parsed.html_only is True
    assert [(a.filename, a.content_type, a.size, a.inline) for a in parsed.attachments] == [
        ("attachment-1.png", "image/png", 889, True)
    ]


def test_parse_email_headers_only_message_title_falls_back() -> None:
    # GIVEN a message with neither subject nor body text
    parsed = parse_email(b"From: a@b.example\r\n\r\n")
    # THEN the title is the documented fallback
    assert parsed.title == "(no subject)"
