from datetime import UTC, datetime

import pytest

from inlet import keys
from inlet.envelope import Envelope
from inlet.ids import id_time, is_valid_id, mint_id
from inlet.message_store import ENVELOPE_META, compact_metadata
from relay.policy import recipient_refusal
from relay.replies import REFUSE_DOMAIN, REFUSE_TOO_MANY
from relay.trace import protocol_name, received_header
from tests.builders import make_envelope

pytestmark = pytest.mark.unit

WHEN_MS = int(datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC).timestamp() * 1000)


def envelope(rcpts: int = 1, **kw: object) -> Envelope:
    fields: dict[str, object] = {
        "id": mint_id(WHEN_MS),
        "received_at": "2026-03-04T05:06:07.000Z",
        "mail_from": "a@example.org",
        "rcpt_to": [f"user{i}@example.com" for i in range(rcpts)],
        "helo": "client.example.org",
        "client_ip": "127.0.0.1",
        "size": 10,
        "sha256": "0" * 64,
        "relay": "r1",
    }
    return make_envelope(**{**fields, **kw})


def test_ids_sort_by_time_and_carry_it() -> None:
    first, second = mint_id(WHEN_MS), mint_id(WHEN_MS + 1)
    assert first < second
    assert is_valid_id(first)
    assert id_time(first) == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert len({mint_id(WHEN_MS) for _ in range(1000)}) == 1000


@pytest.mark.parametrize("bad", ["", "x" * 26, "../../etc/passwd", "8" + "0" * 25, "0" * 25])
def test_invalid_ids_are_rejected(bad: str) -> None:
    assert not is_valid_id(bad)
    with pytest.raises(ValueError, match="not an Inlet message id"):
        id_time(bad)


def test_key_layout_derives_from_the_id() -> None:
    mid = mint_id(WHEN_MS)
    assert keys.raw_key(mid) == f"raw/2026/03/04/{mid}.eml"
    assert keys.envelope_key(mid) == f"envelope/2026/03/04/{mid}.json"
    assert keys.parsed_key(mid) == f"parsed/2026/03/04/{mid}.json"
    assert keys.quarantine_key(mid) == f"quarantine/{mid}.json"
    assert keys.id_from_key(keys.raw_key(mid)) == mid


def test_envelope_round_trips_through_json() -> None:
    env = envelope(rcpts=3, mail_from="", auth_user="ü-user")
    assert Envelope.from_json(env.to_json()) == env
    assert env.to_json().isascii()


def test_compact_metadata_only_when_it_fits_s3s_2kb() -> None:
    small = compact_metadata(envelope(rcpts=2))
    assert small is not None
    assert Envelope.from_json(small[ENVELOPE_META]).rcpt_to[1] == "user1@example.com"
    assert sum(len(k) + len(v) for k, v in small.items()) <= 2048
    assert compact_metadata(envelope(rcpts=100)) is None


def test_recipient_policy() -> None:
    accepted = frozenset({"example.com", "xn--bcher-kva.example"})
    assert recipient_refusal("a@example.com", accepted, 0, 5) is None
    assert recipient_refusal("a@EXAMPLE.com.", accepted, 0, 5) is None
    assert recipient_refusal("a@bücher.example", accepted, 0, 5) is None
    assert recipient_refusal("Postmaster", accepted, 0, 5) is None
    assert recipient_refusal("a@example.com.evil.org", accepted, 0, 5) == REFUSE_DOMAIN
    assert recipient_refusal("a@sub.example.com", accepted, 0, 5) == REFUSE_DOMAIN
    assert recipient_refusal("someone", accepted, 0, 5) == REFUSE_DOMAIN
    assert recipient_refusal("a@example.com", accepted, 5, 5) == REFUSE_TOO_MANY


def test_received_header_is_folded_and_cannot_be_injected() -> None:
    header = received_header(
        helo="evil\r\nBcc: x@y (z)",
        client_ip="192.0.2.1",
        by_host="mx.example.com",
        protocol=protocol_name(esmtp=True, tls=True, auth=False),
        message_id="01ID",
        rcpt_to=["a@example.com"],
        when=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
    )
    text = header.decode()
    assert text.startswith("Received: from evil??Bcc: x@y ?z? ([192.0.2.1])\r\n\tby mx")
    assert (
        "with ESMTPS id 01ID\r\n\tfor <a@example.com>;\r\n\tWed, 04 Mar 2026 05:06:07 +0000\r\n"
        in text
    )
    assert text.count("\r\n") == 4
    two = received_header(
        helo=None,
        client_ip=None,
        by_host="h",
        protocol="SMTP",
        message_id="i",
        rcpt_to=["a@x", "b@x"],
        when=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert b"for <" not in two
