"""Submission (RFC 6409) over real sockets with smtplib: STARTTLS, then AUTH PLAIN or LOGIN,
before MAIL; the user recorded; failed logins limited per client; passwords nowhere."""

import base64
import logging
import re
import smtplib
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme

from inlet.blobstore.filesystem import FilesystemBlobStore
from inlet.credentials import hash_password
from relay import replies
from relay.auth import Credentials
from tests.processes import inlet_process
from tests.support import RunningRelay, load_envelope, load_raw, queued_id, running_relay, settings

pytestmark = pytest.mark.relay

PASSWORD = "correct horse battery staple"
MSG = b"From: app@example.com\r\nTo: ops@example.com\r\nSubject: sub\r\n\r\nhello\r\n"


def plain(user: str, password: str) -> str:
    return "PLAIN " + base64.b64encode(f"\0{user}\0{password}".encode()).decode()


@pytest.fixture
def submission(
    fs_store: FilesystemBlobStore, tls_files: tuple[Path, Path], tmp_path: Path
) -> Iterator[RunningRelay]:
    auth_file = tmp_path / "users"
    auth_file.write_text(f"# submission users\napp:{hash_password(PASSWORD)}\n")
    cert, key = tls_files
    config = settings(
        tls_cert=cert, tls_key=key, submission_port=0, auth_file=auth_file, proxy_protocol=False
    )
    credentials = Credentials(auth_file.read_bytes, source=str(auth_file))
    credentials.refresh()
    with running_relay(fs_store, config, credentials=credentials) as relay:
        yield relay


@contextmanager
def client(relay: RunningRelay, ca: trustme.CA, *, tls: bool = True) -> Iterator[smtplib.SMTP]:
    with smtplib.SMTP("127.0.0.1", relay.relay.submission_port, timeout=10) as smtp:
        smtp.ehlo("app.test")
        if tls:
            context = ssl.create_default_context()
            ca.configure_trust(context)
            smtp._host = "relay.test"  # the certificate's name
            smtp.starttls(context=context)
            smtp.ehlo("app.test")
        yield smtp


def test_auth_is_offered_only_after_starttls_and_is_required_before_mail(
    submission: RunningRelay, tls_ca: trustme.CA
) -> None:
    with client(submission, tls_ca, tls=False) as smtp:
        assert smtp.has_extn("starttls")
        assert not smtp.has_extn("auth")
        code, text = smtp.docmd("AUTH", plain("app", "x"))
        assert code == 538, text  # RFC 4954 §4: encryption required
        code, text = smtp.docmd("MAIL FROM:<app@example.com>")
        assert f"{code} {text.decode()}" == replies.REFUSE_AUTH_REQUIRED
    with client(submission, tls_ca) as smtp:
        assert smtp.esmtp_features["auth"].split() == ["LOGIN", "PLAIN"]
        code, text = smtp.docmd("MAIL FROM:<app@example.com>")
        assert f"{code} {text.decode()}" == replies.REFUSE_AUTH_REQUIRED


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_a_login_submits_and_the_user_is_recorded(
    submission: RunningRelay,
    tls_ca: trustme.CA,
    fs_store: FilesystemBlobStore,
    mechanism: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with client(submission, tls_ca) as smtp:
        smtp.user, smtp.password = "app", PASSWORD
        method = smtp.auth_plain if mechanism == "PLAIN" else smtp.auth_login
        code, _ = smtp.auth(mechanism, method, initial_response_ok=True)
        assert code == 235
        code, text = smtp.docmd("AUTH", plain("app", "x"))
        assert code == 503  # already authenticated
        smtp.mail("app@example.com")
        smtp.rcpt("ops@example.com")
        code, text = smtp.data(MSG)
        assert code == 250, text
    mid = queued_id(f"{code} {text.decode()}")
    envelope = load_envelope(fs_store, mid)
    assert envelope.auth_user == "app"
    assert envelope.tls is not None
    assert b"with ESMTPSA id" in load_raw(fs_store, mid)
    stored = b"".join(fs_store.get(k).data for k in fs_store.list(""))
    logged = caplog.text
    for where in (stored, logged.encode()):
        assert PASSWORD.encode() not in where
        assert base64.b64encode(f"\0app\0{PASSWORD}".encode()) not in where


def test_authenticated_users_still_send_only_to_the_accepted_domains(
    submission: RunningRelay, tls_ca: trustme.CA
) -> None:
    with client(submission, tls_ca) as smtp:
        smtp.login("app", PASSWORD)
        smtp.mail("app@example.com")
        code, text = smtp.rcpt("someone@elsewhere.example")
        assert f"{code} {text.decode()}" == replies.REFUSE_DOMAIN


def test_wrong_passwords_get_535_and_then_the_address_is_refused_for_a_while(
    submission: RunningRelay, tls_ca: trustme.CA
) -> None:
    limiter = submission.relay.services.auth_limiter
    for attempt in range(limiter.failures):
        with client(submission, tls_ca) as smtp:
            user = "app" if attempt % 2 else "nobody"
            # One mechanism: smtplib's login() would try each offered one, failing twice.
            code, text = smtp.docmd("AUTH", plain(user, "guess"))
            assert f"{code} {text.decode()}" == replies.REFUSE_AUTH_FAILED
    with client(submission, tls_ca) as smtp:
        code, text = smtp.docmd("AUTH", plain("app", "x"))
        assert f"{code} {text.decode()}" == replies.REFUSE_AUTH_LIMIT
        with pytest.raises(smtplib.SMTPServerDisconnected):
            smtp.noop()
    # The right password does not get through either until the window has passed.
    with client(submission, tls_ca) as smtp:
        code, text = smtp.docmd("AUTH", plain("app", PASSWORD))
        assert f"{code} {text.decode()}" == replies.REFUSE_AUTH_LIMIT


def test_port_25_offers_no_auth_even_with_a_submission_port(
    submission: RunningRelay, tls_ca: trustme.CA
) -> None:
    with smtplib.SMTP("127.0.0.1", submission.port, timeout=10) as smtp:
        context = ssl.create_default_context()
        tls_ca.configure_trust(context)
        smtp._host = "relay.test"
        smtp.ehlo("mx.test")
        smtp.starttls(context=context)
        smtp.ehlo("mx.test")
        assert not smtp.has_extn("auth")
        assert smtp.docmd("AUTH PLAIN")[0] == 500


def test_inlet_up_with_a_submission_port_rereads_its_auth_file(
    tmp_path: Path, tls_files: tuple[Path, Path], tls_ca: trustme.CA
) -> None:
    """The whole path through the CLI: the auth file is read at start (a user added later is
    taken within INLET_SECRETS_REFRESH, without a restart) and the login is recorded."""
    auth_file = tmp_path / "users"
    auth_file.write_text(f"app:{hash_password(PASSWORD)}\n")
    cert, key = tls_files
    args = ("up", "--data-dir", str(tmp_path / "data"), "--tls-cert", str(cert))
    args += ("--tls-key", str(key), "--submission-port", "0", "--auth-file", str(auth_file))
    with inlet_process(tmp_path, *args, "--secrets-refresh", "1") as (_, _, _):
        found = re.search(r"submission on 127\.0\.0\.1:(\d+)", (tmp_path / "stdout").read_text())
        assert found
        port = int(found.group(1))
        context = ssl.create_default_context()
        tls_ca.configure_trust(context)

        def login(user: str, password: str) -> int:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                smtp._host = "relay.test"
                smtp.starttls(context=context)
                smtp.ehlo("app.test")
                code, _ = smtp.docmd("AUTH", plain(user, password))
                return code

        assert login("app", PASSWORD) == 235
        assert login("late", "added later") == 535
        auth_file.write_text(
            f"app:{hash_password(PASSWORD)}\nlate:{hash_password('added later')}\n"
        )
        # Not polled with logins: each failure counts toward the address's limit.
        time.sleep(3)  # three refresh intervals
        assert login("late", "added later") == 235
