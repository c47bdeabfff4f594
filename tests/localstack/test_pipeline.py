"""Mail through the deployed pipeline: a real SMTP client → an `inlet relay` process → LocalStack
S3 → the bucket's notification → the deployed parse queue → the parse Lambda (on its event source
mapping) → parsed/ → the index queue → the index Lambda → DynamoDB; then the CLI with the env file.
"""

from __future__ import annotations

import hashlib
import json
import os
import smtplib
import time
from email.message import EmailMessage
from typing import Any

import pytest

from inlet import keys
from inlet.message_store import MessageStore
from tests.localstack.conftest import Deployment
from tests.support import queued_id

pytestmark = [pytest.mark.localstack, pytest.mark.timeout(600)]
DOMAIN = "staging.example.com"
SEARCHABLE_WITHIN_SECONDS = 60.0


def send(port: int, raw: bytes, rcpt_to: list[str], mail_from: str = "a@example.org") -> str:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        client.ehlo("client.example.org")
        client.mail(mail_from)
        for rcpt in rcpt_to:
            code, _ = client.rcpt(rcpt)
            assert code == 250, rcpt
        code, reply = client.data(raw)
        assert code == 250, reply
        return queued_id(f"{code} {reply.decode()}")


def search(deployment: Deployment, *args: str) -> list[dict[str, Any]]:
    done = deployment.inlet("search", *args, "--json")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def wait_searchable(deployment: Deployment, message_id: str, *args: str) -> dict[str, Any]:
    deadline = time.monotonic() + SEARCHABLE_WITHIN_SECONDS
    while time.monotonic() < deadline:
        found = [hit for hit in search(deployment, *args) if hit["id"] == message_id]
        if found and found[0]["status"] != "received":
            return found[0]
        time.sleep(0.5)
    raise AssertionError(
        f"{message_id} not searchable by {args} in {SEARCHABLE_WITHIN_SECONDS} s; "
        f"what the functions logged of failures:\n{function_failures(deployment)}"
    )


def function_failures(deployment: Deployment, per_function: int = 8) -> str:
    """The functions' log lines that tell why an invocation failed (a failed first attempt
    waits out the queue's visibility timeout, far past the test's wait): the diagnosis a CI
    log needs, as the deployed functions wrote it to CloudWatch Logs."""
    logs = deployment.client("logs")
    lines: list[str] = []
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]
    for group in groups:
        if "Custom" in group["logGroupName"]:
            continue  # the CDK's custom resources: deployment, not mail
        events = logs.filter_log_events(
            logGroupName=group["logGroupName"], filterPattern="?ERROR ?Error ?Traceback ?Task"
        )["events"]
        lines += [
            f"{group['logGroupName']}: {e['message'].strip()[:2000]}"
            for e in events[-per_function:]
        ]
    return "\n".join(lines) or "(nothing)"


def show_json(deployment: Deployment, message_id: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(deployment.inlet("show", message_id, "--json").stdout)
    return document


def test_a_small_message_is_searchable_and_shown_by_the_cli(
    deployment: Deployment, relay_port: int
) -> None:
    raw = (
        b"From: Alice <alice@example.org>\r\nTo: bob@staging.example.com\r\n"
        b"Subject: hello from the tier\r\nMessage-ID: <small.1@example.org>\r\n\r\nHi Bob.\r\n"
    )
    message_id = send(relay_port, raw, [f"bob@{DOMAIN}"])
    hit = wait_searchable(deployment, message_id, "--to", f"bob@{DOMAIN}")
    assert hit["subject"] == "hello from the tier"
    assert [h["id"] for h in search(deployment, "--message-id", "small.1@example.org")] == [
        message_id
    ]
    shown = deployment.inlet("show", message_id).stdout
    assert "hello from the tier" in shown
    stored = deployment.inlet_bytes("show", message_id, "--raw")
    # As sent, after the Received header the relay prepends.
    assert stored.startswith(b"Received: ")
    assert stored.endswith(b"\r\n" + raw)
    assert show_json(deployment, message_id)["status"] == "parsed"


def test_a_7_mib_message_with_a_large_attachment_arrives_byte_for_byte(
    deployment: Deployment, relay_port: int, messages: MessageStore
) -> None:
    payload = os.urandom(7 * 1024 * 1024 - 300 * 1024)  # ~9.4 MiB once base64-encoded
    mail = EmailMessage()
    mail["From"] = "sender@example.org"
    mail["To"] = f"big@{DOMAIN}"
    mail["Subject"] = "a large attachment"
    mail["Message-ID"] = "<big.1@example.org>"
    mail.set_content("See the attachment.\n")
    mail.add_attachment(
        payload, maintype="application", subtype="octet-stream", filename="blob.bin"
    )
    raw = mail.as_bytes(policy=mail.policy.clone(linesep="\r\n"))
    message_id = send(relay_port, raw, [f"big@{DOMAIN}"])
    wait_searchable(deployment, message_id, "--to", f"big@{DOMAIN}")
    stored = messages.load_raw(message_id)
    assert stored.startswith(b"Received: ")
    assert stored.endswith(b"\r\n" + raw)
    document = show_json(deployment, message_id)
    [attachment] = document["attachments"]
    assert attachment["filename"] == "blob.bin"
    assert attachment["size"] == len(payload)
    assert attachment["sha256"] == hashlib.sha256(payload).hexdigest()
    stored = deployment.client("s3").get_object(
        Bucket=deployment.tier.bucket, Key=attachment["key"]
    )
    assert stored["Body"].read() == payload


def test_150_recipients_split_on_452_as_an_mta_does_and_the_150th_finds_its_copy(
    deployment: Deployment, relay_port: int, messages: MessageStore
) -> None:
    recipients = [f"r{n:03d}@{DOMAIN}" for n in range(1, 151)]
    raw = b"Subject: many recipients\r\nMessage-ID: <many.1@example.org>\r\n\r\nHello all.\r\n"
    ids: list[str] = []
    pending = recipients
    # The deployed relay takes 100 recipients per message; the rest get 452 and a sending MTA
    # tries them again in a new transaction.
    with smtplib.SMTP("127.0.0.1", relay_port, timeout=60) as client:
        while pending:
            client.ehlo("client.example.org")
            client.mail("list@example.org")
            accepted, deferred = [], []
            for rcpt in pending:
                code, _ = client.rcpt(rcpt)
                assert code in (250, 452), (rcpt, code)
                (accepted if code == 250 else deferred).append(rcpt)
            code, reply = client.data(raw)
            assert code == 250, reply
            ids.append(queued_id(f"{code} {reply.decode()}"))
            pending = deferred
    assert len(ids) == 2
    first = messages.load_envelope(ids[0])
    assert len(first.rcpt_to) == 100
    # Too large for S3 user metadata: the envelope is its own object.
    assert messages.blobs.head(keys.envelope_key(ids[0])) is not None
    hit = wait_searchable(deployment, ids[1], "--to", recipients[-1])
    assert hit["id"] == ids[1]
    wait_searchable(deployment, ids[0], "--to", recipients[99])
