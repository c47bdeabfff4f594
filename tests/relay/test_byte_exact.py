"""What was sent is what is stored: only the trace header is added."""

import smtplib

import pytest

from inlet.blobstore import BlobStore
from tests.support import RawSMTP, load_envelope, load_raw, queued_id, running_relay, settings

pytestmark = pytest.mark.relay

HEAD = b"From: a@example.org\r\nTo: b@example.com\r\nSubject: t\r\n\r\n"


def stored_body(store: BlobStore, mid: str) -> bytes:
    raw = load_raw(store, mid)
    lines = raw.splitlines(keepends=True)
    assert lines[0].startswith(b"Received: from ")
    folded = 1
    while folded < len(lines) and lines[folded].startswith(b"\t"):
        folded += 1
    header_end = sum(len(line) for line in lines[:folded])
    env = load_envelope(store, mid)
    assert env.size == len(raw)
    return raw[header_end:]


def raw_send(port: int, wire: bytes, *, mail_params: str = "", rcpt: str = "b@example.com") -> str:
    client = RawSMTP(port)
    client.reply()
    client.cmd("EHLO client.test")
    assert client.cmd(f"MAIL FROM:<a@example.org>{mail_params}").startswith("250")
    assert client.cmd(f"RCPT TO:<{rcpt}>").startswith("250")
    assert client.cmd("DATA").startswith("354")
    client.send(wire)
    reply = client.reply().strip()
    client.close()
    return reply


CONTENTS = {
    "7bit": HEAD + b"plain ascii\r\nsecond line\r\n",
    "8bit": HEAD + b"caf\xc3\xa9 \xe2\x82\xac and latin-1 \xe9\xff\r\n",
    "dot_stuffed": HEAD + b".leading dot\r\n..two dots\r\n.\r\n\r\n.\r\nend\r\n",
    "line_998": HEAD + b"x" * 998 + b"\r\n",
    "line_5000": HEAD + b"y" * 5000 + b"\r\n",
    "bare_lf_and_cr": HEAD + b"bare\nlf\rcr\r\n",
    "nul_bytes": HEAD + b"nul\x00byte\r\n",
    "empty": b"",
}


@pytest.mark.parametrize("name", sorted(CONTENTS))
def test_raw_bytes_are_preserved(store: BlobStore, name: str) -> None:
    content = CONTENTS[name]
    wire = b"".join(
        (b"." + line if line.startswith(b".") else line)
        for line in content.splitlines(keepends=True)
    )
    with running_relay(store) as relay:
        mid = queued_id(raw_send(relay.port, wire + b".\r\n", mail_params=" BODY=8BITMIME"))
    assert stored_body(store, mid) == content


def test_smtputf8_addresses_and_headers(store: BlobStore) -> None:
    content = "From: jösé@exämple.org\r\nSubject: ünïcode\r\n\r\nbody ✓\r\n".encode()
    with running_relay(store) as relay, smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as smtp:
        smtp.ehlo("client.test")
        refused = smtp.sendmail(
            "jösé@exämple.org",
            ["üser@example.com"],
            content,
            mail_options=["SMTPUTF8", "BODY=8BITMIME"],
        )
        assert refused == {}
    (key,) = list(store.list("raw/"))
    mid = key.rsplit("/", 1)[-1].removesuffix(".eml")
    assert stored_body(store, mid) == content
    env = load_envelope(store, mid)
    assert (env.mail_from, env.rcpt_to) == ("jösé@exämple.org", ["üser@example.com"])


def test_body_without_final_crlf_gets_the_one_smtp_requires(store: BlobStore) -> None:
    # RFC 5321 §4.1.1.4: the CRLF before "." ends the last line; smtplib supplies it.
    with running_relay(store) as relay, smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as smtp:
        smtp.ehlo("client.test")
        smtp.mail("a@example.org")
        smtp.rcpt("b@example.com")
        code, text = smtp.data(HEAD + b"no newline at the end")
    assert code == 250
    assert stored_body(store, text.decode().split()[-1]) == HEAD + b"no newline at the end\r\n"


@pytest.mark.parametrize(("extra", "accepted"), [(0, True), (1, False)])
def test_exactly_the_size_limit_and_one_byte_over(
    store: BlobStore, extra: int, accepted: bool
) -> None:
    limit = 10_000
    content = b"z" * (limit - 2 + extra) + b"\r\n"
    with running_relay(store, settings(max_message_size=limit)) as relay:
        reply = raw_send(relay.port, content + b".\r\n")
    if accepted:
        assert stored_body(store, queued_id(reply)) == content
    else:
        assert reply.startswith("552 5.3.4")
        assert list(store.list("")) == []


def test_message_crossing_many_chunks_and_batches(store: BlobStore) -> None:
    lines = [b".%d " % i + bytes([65 + i % 26]) * (i % 900) + b"\r\n" for i in range(6000)]
    content = HEAD + b"".join(lines)
    wire = HEAD + b"".join(b"." + line for line in lines)
    assert len(content) > 2 * store.write_size
    with running_relay(store) as relay:
        mid = queued_id(raw_send(relay.port, wire + b".\r\n"))
    assert stored_body(store, mid) == content
