"""Per-client limits over real sockets: sessions per address (the PROXY source when proxied),
bad command lines of every kind, require-TLS, and the smaller protocol fixes."""

import contextlib
import io
import json
import smtplib
import socket
import ssl
import time
from pathlib import Path

import pytest
import trustme

from inlet.blobstore.filesystem import FilesystemBlobStore
from relay import replies
from tests.relay.test_transport import proxy_v2_header
from tests.support import RawSMTP, load_envelope, queued_id, running_relay, settings

pytestmark = pytest.mark.relay


def greeted(port: int, proxy_from: str | None = None) -> tuple[RawSMTP, str]:
    client = RawSMTP(port)
    if proxy_from is not None:
        client.send(proxy_v2_header(proxy_from, 40000, "10.0.0.5", 25))
    return client, client.reply()


def served_again(port: int, seconds: float = 5) -> str:
    """The greeting of a new session, once a freed place is seen (the relay learns of a
    closed connection a moment after the client closes it)."""
    deadline = time.monotonic() + seconds
    while True:
        client, reply = greeted(port)
        client.close()
        if reply.startswith("220") or time.monotonic() > deadline:
            return reply
        time.sleep(0.05)


def test_sessions_per_address_are_limited_with_421_and_freed_on_close(
    fs_store: FilesystemBlobStore,
) -> None:
    with running_relay(fs_store, settings(max_sessions_per_ip=2)) as relay:
        first, a = greeted(relay.port)
        second, b = greeted(relay.port)
        third, c = greeted(relay.port)
        assert a.startswith("220")
        assert b.startswith("220")
        assert c.startswith(replies.REFUSE_PER_IP), c
        third.close()
        first.cmd("QUIT")
        first.close()
        # The closed session's place is free again.
        assert served_again(relay.port).startswith("220")
        second.close()


def test_behind_the_load_balancer_the_limit_is_per_proxied_source(
    fs_store: FilesystemBlobStore,
) -> None:
    config = settings(max_sessions_per_ip=1, proxy_protocol=True)
    with running_relay(fs_store, config) as relay:
        one, a = greeted(relay.port, "203.0.113.7")
        other, b = greeted(relay.port, "198.51.100.9")  # same peer (the NLB), another client
        again, c = greeted(relay.port, "203.0.113.7")
        assert a.startswith("220"), a
        assert b.startswith("220"), b
        assert c.startswith(replies.REFUSE_PER_IP), c
        for client in (one, other, again):
            client.close()


def test_sessions_turned_away_do_not_count_toward_the_limit(fs_store: FilesystemBlobStore) -> None:
    """Refused clients that linger (they never close their end) hold no place: once a served
    session ends, the next client is served."""
    with running_relay(fs_store, settings(max_sessions=2)) as relay:
        served = [greeted(relay.port)[0] for _ in range(2)]
        refused = [greeted(relay.port) for _ in range(3)]
        assert all(reply.startswith(replies.REFUSE_BUSY) for _, reply in refused)
        served.pop().close()
        assert served_again(relay.port).startswith("220")
        for client in (*served, *(c for c, _ in refused)):
            client.close()


def test_connections_still_owing_their_proxy_header_hold_no_place(
    fs_store: FilesystemBlobStore,
) -> None:
    """Before: every open connection counted from its first byte, so clients that connect
    and say nothing (until the PROXY timeout) filled the limit for everyone."""
    with running_relay(fs_store, settings(max_sessions=1, proxy_protocol=True)) as relay:
        silent = [RawSMTP(relay.port) for _ in range(3)]
        time.sleep(0.2)  # all three accepted by the relay
        client, reply = greeted(relay.port, "203.0.113.7")
        assert reply.startswith("220"), reply
        for c in (client, *silent):
            c.close()


@pytest.mark.parametrize(
    "line",
    [b"", b"\xe9HLO client.test", b"\x00\x01", b"NOSUCHCOMMAND"],
    ids=["empty", "non-ascii", "control", "unknown"],
)
def test_bad_command_lines_of_every_kind_are_counted_and_end_the_session(
    fs_store: FilesystemBlobStore, line: bytes
) -> None:
    with running_relay(fs_store) as relay:
        client, _ = greeted(relay.port)
        answers = []
        for _ in range(6):
            client.send(line + b"\r\n")
            try:
                answers.append(client.reply())
            except ConnectionError:
                break
        client.close()
    assert answers[:4] == [answers[0]] * 4, answers
    assert answers[0].startswith("500"), answers
    assert answers[4].startswith(replies.REFUSE_BAD_COMMANDS), answers


def test_good_commands_between_bad_ones_do_not_reset_the_count(
    fs_store: FilesystemBlobStore,
) -> None:
    with running_relay(fs_store) as relay:
        client, _ = greeted(relay.port)
        for bad in (b"", b"\xff", b"", b"XYZZY"):
            client.send(bad + b"\r\n")
            assert client.reply().startswith("500")
            assert client.cmd("NOOP").startswith("250")
        client.send(b"\r\n")
        assert client.reply().startswith("502 5.5.1")
        client.close()


def test_an_absolute_domain_with_its_trailing_dot_is_accepted_as_the_domain(
    fs_store: FilesystemBlobStore,
) -> None:
    with running_relay(fs_store) as relay:
        client, _ = greeted(relay.port)
        client.cmd("EHLO client.test")
        assert client.cmd("MAIL FROM:<a@example.org.>").startswith("250")
        assert client.cmd("RCPT TO:<x@example.com.>").startswith("250 2.1.5")
        # Still only the accepted domains.
        assert client.cmd("RCPT TO:<x@example.net.>").startswith("550 5.7.1")
        assert client.cmd("DATA").startswith("354")
        client.send(b"Subject: dot\r\n\r\nx\r\n.\r\n")
        mid = queued_id(client.reply().strip())
        client.close()
    envelope = load_envelope(fs_store, mid)
    assert (envelope.mail_from, envelope.rcpt_to) == ("a@example.org", ["x@example.com"])


def test_require_tls_refuses_mail_before_starttls_with_530(
    fs_store: FilesystemBlobStore, tls_files: tuple[Path, Path]
) -> None:
    cert, key = tls_files
    config = settings(tls_cert=cert, tls_key=key, require_tls=True)
    with (
        running_relay(fs_store, config) as relay,
        smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as smtp,
    ):
        smtp.ehlo("client.test")
        assert smtp.has_extn("starttls")
        code, text = smtp.docmd("MAIL FROM:<a@example.org>")
        assert (code, text.decode()) == (530, replies.REFUSE_TLS_REQUIRED[4:])


def test_the_drain_421s_are_all_counted(fs_store: FilesystemBlobStore) -> None:
    out = io.StringIO()
    with running_relay(fs_store, metrics_out=out) as relay:
        clients = [greeted(relay.port)[0] for _ in range(5)]
        relay.call(relay.relay.drain())
        for client in clients:
            assert client.reply().startswith("421 4.3.2")
            client.close()
    counted: dict[str, int] = {}
    for line in out.getvalue().splitlines():
        document = json.loads(line)
        if "Replies" in document:
            code = document["ReplyCode"]
            counted[code] = counted.get(code, 0) + document["Replies"]
    assert counted.get("421") == 5, out.getvalue()


def test_overlong_command_lines_count_as_bad_commands(fs_store: FilesystemBlobStore) -> None:
    with running_relay(fs_store) as relay:
        client, _ = greeted(relay.port)
        answers = []
        for _ in range(5):
            client.send(b"NOOP " + b"x" * 2000 + b"\r\n")
            answers.append(client.reply())
        client.close()
    assert answers[0].startswith("500 Command line too long"), answers
    assert answers[4].startswith(replies.REFUSE_BAD_COMMANDS), answers


def test_what_aiosmtpd_echoes_back_is_printable_and_never_python_text(
    fs_store: FilesystemBlobStore,
) -> None:
    """Before: `VRFY <<\\xff>>` failed to encode its own echo, answered `500 Error:
    (UnicodeEncodeError) …`; an unknown command with a bare CR was echoed with the CR."""
    with running_relay(fs_store) as relay:
        client, _ = greeted(relay.port)
        client.cmd("EHLO client.test")
        client.send(b"VRFY <<\xff>>\r\n")
        vrfy = client.reply()
        client.send(b"X\rY\r\n")
        echoed = client.reply()
        assert client.cmd("NOOP").startswith("250")
        client.close()
    assert vrfy.startswith("502 "), vrfy
    assert "Error: (" not in vrfy
    assert echoed.startswith("500 "), echoed
    assert "\r" not in echoed.removesuffix("\r\n")


class BuggyStore:
    """A store with a bug: not a storage error (InletError) but any other exception."""

    def __init__(self, inner: FilesystemBlobStore) -> None:
        self.inner = inner
        self.write_size = inner.write_size
        self.max_single_put = inner.max_single_put

    def put(self, key: str, data: bytes, **kw: object) -> None:
        raise RuntimeError("a bug, with internals in its message")

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_an_unexpected_error_is_a_451_without_its_text(fs_store: FilesystemBlobStore) -> None:
    with running_relay(BuggyStore(fs_store)) as relay:  # type: ignore[arg-type]
        client, _ = greeted(relay.port)
        client.cmd("EHLO client.test")
        client.cmd("MAIL FROM:<a@example.org>")
        client.cmd("RCPT TO:<b@example.com>")
        assert client.cmd("DATA").startswith("354")
        client.send(b"Subject: bug\r\n\r\nx\r\n.\r\n")
        reply = client.reply()
        client.close()
    assert reply.startswith(replies.REFUSE_LOCAL_ERROR), reply
    assert "internals" not in reply


def test_paths_the_address_parser_chokes_on_are_syntax_errors(
    fs_store: FilesystemBlobStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by the SMTP fuzzer: the stdlib's address parser raises IndexError, not its own
    error, on these; it escaped aiosmtpd as a 500 with the exception text (then a 451)."""
    with running_relay(fs_store) as relay:
        client, _ = greeted(relay.port)
        client.cmd("EHLO client.test")
        answers = [client.cmd(line) for line in ("MAIL FROM:a@", "MAIL FROM:<", 'VRFY "')]
        client.cmd("MAIL FROM:<a@example.org>")
        answers.append(client.cmd("RCPT TO:a@"))
        client.close()
    assert [a[:3] for a in answers] == ["553", "553", "502", "553"], answers
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_lines_pipelined_after_the_502_are_not_run_on_a_tls_session(
    fs_store: FilesystemBlobStore,
    tls_files: tuple[Path, Path],
    tls_ca: trustme.CA,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found by the SMTP fuzzer: after closing with 502 the command loop went on with the lines
    already read, and on TLS each reply raised on the closed transport (an ERROR each)."""
    cert, key = tls_files
    context = ssl.create_default_context()
    tls_ca.configure_trust(context)
    with running_relay(fs_store, settings(tls_cert=cert, tls_key=key)) as relay:
        raw = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
        raw.recv(1000)
        raw.sendall(b"EHLO client.test\r\n")
        time.sleep(0.2)
        raw.recv(1000)
        raw.sendall(b"STARTTLS\r\n")
        raw.recv(1000)
        tls = context.wrap_socket(raw, server_hostname="relay.test")
        tls.sendall(b"EHLO client.test\r\n" + (b"X " + b"x" * 1100 + b"\r\n") * 7)
        received = b""
        with contextlib.suppress(OSError):
            while chunk := tls.recv(4096):
                received += chunk
        tls.close()
        time.sleep(0.2)
    assert received.count(b"\r\n502 ") + received.startswith(b"502 ") == 1, received
    assert received.rstrip().endswith(b"goodbye."), received
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
