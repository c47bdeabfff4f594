"""DMARC's pure rules (RFC 7489): the record's syntax, the organizational domain from the
Public Suffix List, alignment; and the Authentication-Results header (RFC 8601)."""

import pytest

from inlet.authentication.dmarc import (
    DmarcRecord,
    RecordError,
    aligned,
    organizational_domain,
    parse_record,
)
from inlet.authentication.results import results_header

pytestmark = pytest.mark.unit


def test_a_record_with_defaults_and_with_every_tag() -> None:
    assert parse_record("v=DMARC1; p=reject") == DmarcRecord("reject", None, "r", "r")
    assert parse_record("v=DMARC1;p=Quarantine;sp=none;adkim=s;aspf=s;pct=50") == DmarcRecord(
        "quarantine", "none", "s", "s"
    )


@pytest.mark.parametrize(
    "text",
    [
        "v=DMARC2; p=reject",
        "p=reject; v=DMARC1",  # v= must come first
        "v=DMARC1",  # no p= and no rua=
        "v=DMARC1; p=reject; sp=bounce",
        "v=DMARC1; p=reject; adkim=x",
    ],
)
def test_records_that_are_not_valid(text: str) -> None:
    with pytest.raises(RecordError):
        parse_record(text)


@pytest.mark.parametrize(
    ("domain", "organization"),
    [
        ("example.org", "example.org"),
        ("a.b.Example.ORG.", "example.org"),
        ("news.example.co.uk", "example.co.uk"),
        ("co.uk", "co.uk"),  # a public suffix is its own
        ("user.github.io", "user.github.io"),  # the list's private section counts
    ],
)
def test_the_organizational_domain(domain: str, organization: str) -> None:
    assert organizational_domain(domain) == organization


def test_alignment() -> None:
    assert aligned("mail.example.org", "example.org", "r")
    assert not aligned("mail.example.org", "example.org", "s")
    assert aligned("EXAMPLE.org.", "example.org", "s")
    assert not aligned("example.co.uk", "other.co.uk", "r")
    assert not aligned("a.github.io", "b.github.io", "r")
    assert not aligned(None, "example.org", "r")


def test_the_header_quotes_what_is_not_a_token() -> None:
    header = results_header(
        "mx.example.com",
        spf={"result": "softfail", "domain": "example.org", "helo_result": "none"},
        mail_from='"odd local"@example.org',
        helo="mx.example.org",
        dkim=[
            {"result": "pass", "domain": "example.org", "selector": "s1"},
            {"result": "permerror", "domain": None, "selector": None},
        ],
        dmarc={"result": "none", "policy": None, "domain": None},
        arc={"result": "none", "chain_length": 0},
    )
    assert header == (
        'mx.example.com; spf=softfail smtp.mailfrom="\\"odd local\\"@example.org"; '
        "dkim=pass header.d=example.org header.s=s1; dkim=permerror; dmarc=none; arc=none"
    )
