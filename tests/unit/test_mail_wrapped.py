"""parse_email on wrapped content and machine reports: opaque-signed S/MIME, TNEF winmail.dat,
oversized forwarded messages, the attachment cap, and DMARC/TLS/ARF reports (robots)."""

from __future__ import annotations

import base64
import datetime
import gzip
import io
import struct
import zipfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from support_common.mail import parse_email

SAMPLES = Path(__file__).resolve().parent.parent / "mail-samples"
HEAD = (
    "From: Dana <dana@globex.example>\nTo: incident@support.example.com\nSubject: {subject}\nMIME-Version: 1.0\n"
)


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _message(subject: str, content_type: str, body: bytes, extra: str = "") -> bytes:
    return _crlf(HEAD.format(subject=subject) + extra + f"Content-Type: {content_type}\n\n") + body


def _mixed(subject: str, parts: list[bytes], extra: str = "", kind: str = "mixed") -> bytes:
    body = b"".join(b"--B\r\n" + part + b"\r\n" for part in parts) + b"--B--\r\n"
    return _message(subject, f'multipart/{kind}; boundary="B"', body, extra)


def _file_part(content_type: str, name: str, data: bytes) -> bytes:
    head = f'Content-Type: {content_type}; name="{name}"\nContent-Disposition: attachment; filename="{name}"\n'
    return _crlf(head + "Content-Transfer-Encoding: base64\n\n") + _b64(data)


TEXT_PART = _crlf("Content-Type: text/plain; charset=utf-8\n\nSee the attached file.")


# -- opaque-signed S/MIME -------------------------------------------------------------------


def _opaque_signed(inner: bytes) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dana@globex.example")])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    builder = pkcs7.PKCS7SignatureBuilder().set_data(inner).add_signer(cert, key, hashes.SHA256())
    return builder.sign(serialization.Encoding.DER, [])  # no DetachedSignature: content inside


def test_parse_email_opaque_signed_smime_shows_the_signed_text() -> None:
    # GIVEN an opaque-signed (DER SignedData) message, as signed by a real CMS library
    inner = _crlf("Content-Type: text/plain; charset=utf-8\n\nThe VPN drops every hour since Monday.")
    der = _opaque_signed(inner)
    headers = 'Content-Disposition: attachment; filename="smime.p7m"\nContent-Transfer-Encoding: base64\n'
    ctype = 'application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"'
    raw = _message("VPN drops", ctype, _b64(der), headers)
    # WHEN parsed
    parsed = parse_email(raw)
    # THEN the signed text is the description; the signature stays attached
    assert parsed.description == "The VPN drops every hour since Monday."
    assert [(a.filename, a.size) for a in parsed.attachments] == [("smime.p7m", len(der))]


def test_parse_email_opaque_signed_ber_smime_from_openssl_has_text_and_files() -> None:
    # GIVEN a message signed with `openssl smime -sign -nodetach -stream` (BER, chunked content)
    raw = (SAMPLES / "smime-opaque-signed-ber.eml").read_bytes()
    # WHEN parsed
    parsed = parse_email(raw)
    # THEN the inner multipart's text and its attachment are the message's
    assert parsed.title == "Invoice export fails"
    assert parsed.description == "The invoice export has failed since Monday, see the log."
    assert [(a.filename, a.content) for a in parsed.attachments][1:] == [
        ("export.log", b"ERROR 42 export aborted")
    ]
    assert parsed.attachments[0].filename == "smime.p7m"


def test_parse_email_encrypted_or_broken_pkcs7_stays_an_attachment() -> None:
    # GIVEN an encrypted S/MIME part and a "signed" one that is not ASN.1
    for smime_type, payload in (("enveloped-data", b"\x30\x03\x02\x01\x00"), ("signed-data", b"not asn1 at all")):
        raw = _message("secret", f"application/pkcs7-mime; smime-type={smime_type}", _b64(payload))
        raw = raw.replace(b"MIME-Version: 1.0\r\n", b"MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n")
        # WHEN parsed / THEN the part is kept as it is, nothing crashes
        parsed = parse_email(raw)
        assert [a.content for a in parsed.attachments] == [payload]
        assert parsed.title == "secret"


# -- TNEF winmail.dat ------------------------------------------------------------------------


def _attr(level: int, attr_id: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BII", level, attr_id, len(data)) + data + struct.pack("<H", checksum)


def _mapi(props: list[tuple[int, int, bytes]]) -> bytes:
    """A MAPI property list of single-valued string/binary properties (MS-OXTNEF 2.1.3.4)."""
    out = struct.pack("<I", len(props))
    for ptype, pid, value in props:
        out += struct.pack("<HHII", ptype, pid, 1, len(value)) + value + b"\x00" * (-len(value) % 4)
    return out


def _winmail(body: str, files: list[tuple[str, bytes]]) -> bytes:
    stream = struct.pack("<IH", 0x223E9F78, 0x0102)
    stream += _attr(1, 0x00069007, struct.pack("<II", 1252, 0))  # attOemCodepage
    stream += _attr(1, 0x00069003, _mapi([(0x001E, 0x1000, body.encode("cp1252") + b"\x00")]))  # PidTagBody
    for name, data in files:
        stream += _attr(2, 0x00069002, b"\x01\x00" + b"\xff" * 12)  # attAttachRendData
        stream += _attr(2, 0x00018010, name[:8].upper().encode() + b"\x00")  # attAttachTitle (8.3)
        stream += _attr(2, 0x0006800F, data)  # attAttachData
        long_name = (name + "\x00").encode("utf-16-le")
        stream += _attr(2, 0x00069005, _mapi([(0x001F, 0x3707, long_name)]))  # PidTagAttachLongFilename
    return stream


def test_parse_email_winmail_dat_files_and_body_become_the_messages() -> None:
    # GIVEN an Outlook message whose only content is a winmail.dat holding a body and two files
    pdf = b"%PDF-1.4 quarterly\x00\x00"  # trailing NULs must survive
    tnef = _winmail(
        "Please review the attached files before Friday.", [("Quarterly report.pdf", pdf), ("notes.txt", b"n")]
    )
    raw = _mixed("Review", [_file_part("application/ms-tnef", "winmail.dat", tnef)])
    # WHEN parsed
    parsed = parse_email(raw)
    # THEN its files are attachments (exact bytes), its body the description; winmail.dat stays
    files = [(a.filename, a.content_type, a.content) for a in parsed.attachments]
    assert files == [
        ("Quarterly report.pdf", "application/pdf", pdf),
        ("notes.txt", "text/plain", b"n"),
        ("winmail.dat", "application/ms-tnef", tnef),
    ]
    assert parsed.description == "Please review the attached files before Friday."


def test_parse_email_winmail_dat_body_does_not_replace_the_message_text() -> None:
    # GIVEN a message with its own text and a winmail.dat repeating it
    tnef = _winmail("Same text in TNEF.", [("a.csv", b"x,y")])
    raw = _mixed("Data", [TEXT_PART, _file_part("application/vnd.ms-tnef", "winmail.dat", tnef)])
    # WHEN parsed / THEN the message text is the description, the file is unpacked
    parsed = parse_email(raw)
    assert parsed.description == "See the attached file."
    assert [a.filename for a in parsed.attachments] == ["a.csv", "winmail.dat"]


@pytest.mark.parametrize(
    "tnef",
    [
        b"\x78\x9f\x3e\x22\x01\x00" + struct.pack("<BII", 1, 0x00069003, 12) + b"\xff\xff\xff\xff" + b"\x00" * 8,
        b"\x78\x9f\x3e\x22\x01\x00" + struct.pack("<BII", 1, 0x00069003, 0xFFFFFFF0),
        b"\x78\x9f\x3e\x22",
        b"not tnef at all",
    ],
    ids=["huge-property-count", "huge-attribute-size", "truncated", "no-signature"],
)
def test_parse_email_hostile_winmail_dat_is_kept_as_it_is(tnef: bytes) -> None:
    # GIVEN a winmail.dat whose counts lie or that is not TNEF
    raw = _mixed("Broken", [TEXT_PART, _file_part("application/ms-tnef", "winmail.dat", tnef)])
    # WHEN parsed / THEN the text is there and winmail.dat is kept unchanged
    parsed = parse_email(raw)
    assert parsed.description == "See the attached file."
    assert [(a.filename, a.content) for a in parsed.attachments] == [("winmail.dat", tnef)]


# -- caps: oversized forwarded messages, many attachments ----------------------------------


def test_parse_email_forwarded_message_with_thousands_of_parts_is_kept_whole() -> None:
    # GIVEN a real message forwarding (as message/rfc822) a message with 3000 parts
    inner = _crlf("From: x@y.example\nSubject: spam\nContent-Type: multipart/mixed; boundary=I\n\n")
    inner += b"".join(b"--I\r\nContent-Type: text/plain\r\n\r\npart\r\n" for _ in range(3000)) + b"--I--\r\n"
    attached = _crlf('Content-Type: message/rfc822; name="spam.eml"\nContent-Disposition: attachment\n\n') + inner
    raw = _mixed(
        "Is this phishing?", [_crlf("Content-Type: text/plain\n\nGot this today, is it phishing?"), attached]
    )
    # WHEN parsed
    parsed = parse_email(raw)
    # THEN the outer text is filed and the forwarded message is an unopened .eml, every byte kept
    assert parsed.description == "Got this today, is it phishing?"
    assert [(a.filename, a.content_type, a.content) for a in parsed.attachments] == [
        ("spam.eml", "message/rfc822", inner)
    ]
    assert "embedded-over-caps:too-many-parts" in parsed.defects


def test_parse_email_more_than_100_attachments_are_counted_not_kept() -> None:
    # GIVEN 150 attachments
    parts = [TEXT_PART] + [_file_part("text/csv", f"f{i}.csv", b"1") for i in range(150)]
    # WHEN parsed
    parsed = parse_email(_mixed("exports", parts))
    # THEN the first 100 are kept and the 50 others are counted
    assert [a.filename for a in parsed.attachments] == [f"f{i}.csv" for i in range(100)]
    assert parsed.attachments_omitted == 50
    assert parse_email(_mixed("one", parts[:2])).attachments_omitted == 0


# -- machine reports -------------------------------------------------------------------------

DMARC_SUBJECT = "Report Domain: acme.example Submitter: google.com Report-ID: <1700000000123>"
DMARC_XML = (
    b"<?xml version='1.0'?><feedback><report_metadata><org_name>google.com</org_name></report_metadata></feedback>"
)


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def test_robot_reason_dmarc_aggregate_reports_are_reports() -> None:
    # GIVEN DMARC aggregate reports as sent: a zip in multipart/mixed, a bare gzip body, and a
    # report named by RFC 7489's file name only (no Auto-Submitted on any of them)
    name = "google.com!acme.example!1700000000!1700086399"
    zipped = _mixed(
        DMARC_SUBJECT, [TEXT_PART, _file_part("application/zip", name + ".zip", _zip(name + ".xml", DMARC_XML))]
    )
    gz_headers = f'Content-Disposition: attachment; filename="{name}.xml.gz"\nContent-Transfer-Encoding: base64\n'
    gzipped = _message(DMARC_SUBJECT, "application/gzip", _b64(gzip.compress(DMARC_XML)), gz_headers)
    by_name = _mixed("DMARC aggregate report", [_file_part("application/gzip", name + ".xml.gz", b"\x1f\x8b")])
    for raw in (zipped, gzipped, by_name):
        # WHEN parsed / THEN each is a report, never a ticket
        assert parse_email(raw).robot_reason == "report"


def test_robot_reason_forwarded_dmarc_report_is_human_mail() -> None:
    # GIVEN a person forwarding a DMARC report to ask about it
    raw = _mixed("Fwd: " + DMARC_SUBJECT, [TEXT_PART, _file_part("application/zip", "report.zip", b"PK")])
    # WHEN parsed / THEN it opens a ticket like any human mail
    assert parse_email(raw).robot_reason is None


def test_robot_reason_tls_report_is_a_report_not_a_bounce() -> None:
    # GIVEN an RFC 8460 TLS report
    report = _file_part(
        "application/tlsrpt+gzip", "google.com!acme.example!1700000000!1700086399.json.gz", b"\x1f\x8b"
    )
    raw = _mixed(
        DMARC_SUBJECT, [TEXT_PART, report], "TLS-Report-Domain: acme.example\n", kind="report; report-type=tlsrpt"
    )
    # WHEN parsed / THEN it is a report (a bounce would be handled as a delivery failure)
    parsed = parse_email(raw)
    assert (parsed.report_type, parsed.robot_reason) == ("tlsrpt", "report")


def test_robot_reason_feedback_report_inside_multipart_mixed_is_a_report() -> None:
    # GIVEN an ARF abuse report sent as multipart/mixed instead of multipart/report
    arf = _crlf("Content-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: x/1.0\nVersion: 1")
    raw = _mixed("Abuse report", [TEXT_PART, arf])
    # WHEN parsed / THEN it is a report
    assert parse_email(raw).robot_reason == "report"
