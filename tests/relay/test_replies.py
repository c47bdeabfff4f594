"""Every reply in the design's table, over a real socket, with smtplib or raw bytes."""

import select
import smtplib
import socket
import time

import pytest

from inlet import keys
from inlet.blobstore import BlobStore, StorageError
from inlet.blobstore.filesystem import FilesystemBlobStore
from tests.support import (
    RawSMTP,
    health_status,
    load_envelope,
    load_raw,
    queued_id,
    running_relay,
    settings,
)

pytestmark = pytest.mark.relay

MSG = b"From: a@example.org\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nhello\r\n"


def session(port: int) -> RawSMTP:
    client = RawSMTP(port)
    assert client.reply().startswith("220 ")
    assert client.cmd("EHLO client.test").startswith("250")
    return client


def send(
    client: RawSMTP, wire_body: bytes, rcpt: str = "b@example.com", frm: str = "a@example.org"
) -> str:
    assert client.cmd(f"MAIL FROM:<{frm}>").startswith("250")
    assert client.cmd(f"RCPT TO:<{rcpt}>").startswith("250")
    assert client.cmd("DATA").startswith("354")
    client.send(wire_body + b".\r\n")
    return client.reply().strip()


def test_ehlo_advertises_extensions(store: BlobStore) -> None:
    with running_relay(store) as relay, smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as smtp:
        code, _ = smtp.ehlo("client.test")
        assert code == 250
        for ext in ("size", "8bitmime", "smtputf8", "pipelining"):
            assert smtp.has_extn(ext), ext
        assert smtp.esmtp_features["size"] == str(40 * 1024 * 1024)
        assert not smtp.has_extn("auth")
        # Not offered: aiosmtpd's own replies carry no enhanced codes (RFC 2034 would require).
        assert not smtp.has_extn("enhancedstatuscodes")


def test_250_only_with_the_message_stored(store: BlobStore) -> None:
    with running_relay(store) as relay:
        client = session(relay.port)
        reply = send(client, MSG)
        client.close()
    mid = queued_id(reply)
    raw = load_raw(store, mid)
    assert raw.startswith(b"Received: from client.test ([127.0.0.1])\r\n\tby relay.test (Inlet)")
    assert raw.endswith(b"\r\n" + MSG)
    env = load_envelope(store, mid)
    assert (env.id, env.mail_from, env.rcpt_to, env.helo) == (
        mid,
        "a@example.org",
        ["b@example.com"],
        "client.test",
    )
    assert env.size == len(raw)
    assert env.client_ip == "127.0.0.1"
    assert env.relay == "test-relay"
    assert env.tls is None


def test_550_for_domains_not_accepted_never_an_open_relay(store: BlobStore) -> None:
    with running_relay(store) as relay, smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as smtp:
        smtp.ehlo("client.test")
        smtp.mail("a@example.org")
        for rcpt in ("x@other.org", "x@example.com.evil.org", "x@sub.example.com", "x@[127.0.0.1]"):
            code, text = smtp.rcpt(rcpt)
            assert (code, text[:5]) == (550, b"5.7.1"), rcpt
        assert smtp.rcpt("x@EXAMPLE.COM")[0] == 250


def test_postmaster_and_null_sender_are_accepted(store: BlobStore) -> None:
    with running_relay(store) as relay, smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as smtp:
        smtp.ehlo("client.test")
        assert smtp.mail("<>")[0] == 250
        assert smtp.rcpt("Postmaster")[0] == 250
        code, text = smtp.data(MSG)
    assert code == 250
    env = load_envelope(store, text.decode().split()[-1])
    assert (env.mail_from, env.rcpt_to) == ("", ["Postmaster"])


def test_452_past_the_recipient_limit(fs_store: FilesystemBlobStore) -> None:
    with (
        running_relay(fs_store, settings(max_recipients=3)) as relay,
        smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as smtp,
    ):
        smtp.ehlo("client.test")
        smtp.mail("a@example.org")
        for i in range(3):
            assert smtp.rcpt(f"u{i}@example.com")[0] == 250
        code, text = smtp.rcpt("u3@example.com")
        assert (code, text[:5]) == (452, b"4.5.3")
        code, text = smtp.data(MSG)
    assert code == 250
    assert load_envelope(fs_store, text.decode().split()[-1]).rcpt_to == [
        "u0@example.com",
        "u1@example.com",
        "u2@example.com",
    ]


def test_552_for_declared_size_over_the_limit(store: BlobStore) -> None:
    with running_relay(store, settings(max_message_size=2000)) as relay:
        client = session(relay.port)
        assert client.cmd("MAIL FROM:<a@example.org> SIZE=2001").startswith("552 5.3.4")
        assert client.cmd("MAIL FROM:<a@example.org> SIZE=2000").startswith("250")
        client.close()


@pytest.mark.parametrize("size", ["\u00b2", "\u0663", "1e3", "-1", "", "1" * 21])
def test_501_for_a_size_that_is_not_ascii_digits_and_the_session_goes_on(
    fs_store: FilesystemBlobStore, size: str
) -> None:
    with running_relay(fs_store, settings(max_message_size=2000)) as relay:
        client = session(relay.port)
        reply = client.cmd(f"MAIL FROM:<a@example.org> SIZE={size}")
        assert reply.rstrip() == "501 5.5.4 Syntax: SIZE=<decimal digits>"
        assert client.cmd("MAIL FROM:<a@example.org> SIZE=10").startswith("250")
        client.close()


def test_552_mid_stream_reads_to_the_end_and_stores_nothing(store: BlobStore) -> None:
    limit = 4096
    with running_relay(store, settings(max_message_size=limit)) as relay:
        client = session(relay.port)
        exact = b"x" * (limit - 2) + b"\r\n"
        over = b"x" * (limit - 1) + b"\r\n"
        assert send(client, over).startswith("552 5.3.4")
        assert send(client, b"y" * 100_000 + b"\r\n").startswith("552 5.3.4")
        # The session goes on: the reply came at the end of DATA, in step with the client.
        ok = queued_id(send(client, exact))
        client.close()
    assert load_raw(store, ok).endswith(b"\r\n" + exact)
    assert [keys.id_from_key(k) for k in store.list("raw/")] == [ok]


class FailingStore:
    """A real filesystem store whose writes fail, as a full disk or S3 outage would."""

    def __init__(self, inner: FilesystemBlobStore) -> None:
        self.inner = inner
        self.write_size = inner.write_size
        self.max_single_put = inner.max_single_put

    def put(self, key: str, data: bytes, **kw: object) -> None:
        raise StorageError("injected: disk full")

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_451_when_storage_fails(fs_store: FilesystemBlobStore) -> None:
    with running_relay(FailingStore(fs_store)) as relay:  # type: ignore[arg-type]
        client = session(relay.port)
        assert send(client, MSG).startswith("451 4.3.0")
        client.close()
    assert list(fs_store.list("")) == []


def test_421_when_too_many_sessions(fs_store: FilesystemBlobStore) -> None:
    with running_relay(fs_store, settings(max_sessions=1)) as relay:
        first = session(relay.port)
        second = RawSMTP(relay.port)
        assert second.reply().startswith("421 4.7.0")
        second.close()
        first.close()


def test_421_and_503_while_draining(fs_store: FilesystemBlobStore) -> None:
    with running_relay(fs_store, settings(drain_seconds=5)) as relay:
        assert health_status(relay.health_port) == 200
        relay.relay.state.draining = True
        assert health_status(relay.health_port) == 503
        late = RawSMTP(relay.port)
        assert late.reply().startswith("421 4.3.2")
        late.close()


def test_pipelined_transaction_and_quit_in_one_write(store: BlobStore) -> None:
    with running_relay(store) as relay:
        client = RawSMTP(relay.port)
        client.reply()
        client.cmd("EHLO client.test")
        client.send(
            b"MAIL FROM:<a@example.org>\r\n"
            b"RCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n"
        )
        replies = [client.reply() for _ in range(4)]
        assert [r[:3] for r in replies] == ["250", "250", "250", "354"]
        client.send(MSG + b".\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<d@example.com>\r\nDATA\r\n")
        first = client.reply()
        assert [client.reply()[:3] for _ in range(3)] == ["250", "250", "354"]
        client.send(b"second\r\n.\r\nQUIT\r\n")
        second = client.reply()
        assert client.reply().startswith("221")
        client.close()
    assert load_raw(store, queued_id(first)).endswith(b"\r\n" + MSG)
    assert load_raw(store, queued_id(second)).endswith(b"\r\nsecond\r\n")
    assert load_envelope(store, queued_id(first)).rcpt_to == ["b@example.com", "c@example.com"]


def test_connection_lost_mid_data_leaves_nothing(store: BlobStore) -> None:
    with running_relay(store) as relay:
        client = session(relay.port)
        client.cmd("MAIL FROM:<a@example.org>")
        client.cmd("RCPT TO:<b@example.com>")
        client.cmd("DATA")
        client.send(b"x" * 3_000_000)
        client.sock.shutdown(socket.SHUT_RDWR)
        client.close()
        # A later session still works, and by then the abandoned one is cleaned up.
        again = session(relay.port)
        ok = queued_id(send(again, MSG))
        again.close()
    assert [keys.id_from_key(k) for k in store.list("raw/")] == [ok]
    if isinstance(store, FilesystemBlobStore):
        assert list((store.root / ".tmp").iterdir()) == []


def test_a_slow_sender_is_not_cut_off_mid_data(fs_store: FilesystemBlobStore) -> None:
    with running_relay(fs_store, idle_timeout=0.5) as relay:
        client = session(relay.port)
        client.cmd("MAIL FROM:<a@example.org>")
        client.cmd("RCPT TO:<b@example.com>")
        assert client.cmd("DATA").startswith("354")
        for i in range(8):  # 1.6 s in all, never 0.5 s without a byte
            client.send(b"line %d\r\n" % i)
            time.sleep(0.2)
        client.send(b".\r\n")
        mid = queued_id(client.reply().strip())
        time.sleep(0.8)  # idle between commands still times out, and says so
        assert client.reply().startswith("421 4.4.2")
        with pytest.raises(ConnectionError):
            client.cmd("NOOP")
        client.close()
    assert load_raw(fs_store, mid).endswith(b"line 7\r\n")


def test_help_lists_only_what_is_offered_and_auth_is_not_a_command(
    fs_store: FilesystemBlobStore,
) -> None:
    with running_relay(fs_store, settings()) as relay:
        client = session(relay.port)
        listed = client.cmd("HELP")
        assert listed.startswith("250 Supported commands:")
        assert "AUTH" not in listed.split()
        assert "STARTTLS" not in listed.split()  # no certificate configured
        assert client.cmd("AUTH PLAIN AGFAAGI=").startswith("500")
        assert client.cmd("NOOP").startswith("250")
        client.close()


def test_a_trickle_is_cut_off_at_the_data_deadline_with_421_and_nothing_stored(
    fs_store: FilesystemBlobStore,
) -> None:
    with running_relay(fs_store, settings(data_timeout=1.0), idle_timeout=5) as relay:
        client = session(relay.port)
        client.cmd("MAIL FROM:<a@example.org>")
        client.cmd("RCPT TO:<b@example.com>")
        assert client.cmd("DATA").startswith("354")
        started = time.monotonic()
        reply = ""
        for _ in range(40):  # a byte every 0.1 s: never idle, never done
            client.send(b"x")
            readable, _, _ = select.select([client.sock], [], [], 0.1)
            if readable:
                reply = client.reply()
                break
        elapsed = time.monotonic() - started
        client.close()
    assert reply.startswith("421 4.4.2"), reply
    assert 1.0 <= elapsed < 2.5, elapsed
    assert list(fs_store.list("raw/")) == []
    assert list((fs_store.root / ".tmp").iterdir()) == []
