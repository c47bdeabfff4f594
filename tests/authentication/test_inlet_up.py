"""The verdicts end to end on a real `inlet up`: a message signed for this run, sent over SMTP
behind a PROXY header (the NLB's client address is the one SPF checks), DNS from the test
server through --dns-resolver; the document, the index and `inlet show` carry the verdicts."""

import json
from pathlib import Path

import pytest

from tests.authentication.messages import message
from tests.authentication.signing import Key, sign
from tests.cli import run_cli
from tests.dns_server import DnsServer
from tests.processes import inlet_process, wait_for
from tests.support import RawSMTP, queued_id

pytestmark = pytest.mark.dns

CLIENT = "192.0.2.10"  # the sender's address as the PROXY header gives it; the socket is local


def send_proxied(port: int, raw: bytes, source: str = CLIENT) -> str:
    client = RawSMTP(port)
    try:
        client.send(f"PROXY TCP4 {source} 127.0.0.1 40000 25\r\n".encode())
        assert client.reply().startswith("220")
        client.cmd("EHLO mx.example.org")
        assert client.cmd("MAIL FROM:<bounce@example.org>").startswith("250")
        assert client.cmd("RCPT TO:<bob@example.com>").startswith("250")
        assert client.cmd("DATA").startswith("354")
        client.send(raw + b".\r\n")
        return queued_id(client.reply())
    finally:
        client.close()


def test_inlet_up_computes_the_verdicts_of_each_message(
    tmp_path: Path, dns: DnsServer, rsa_key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    dns.add("example.org", "TXT", f"v=spf1 ip4:{CLIENT} -all")
    dns.add("mx.example.org", "TXT", f"v=spf1 ip4:{CLIENT} -all")
    dns.add("s1._domainkey.example.org", "TXT", rsa_key.record)
    dns.add("_dmarc.example.org", "TXT", "v=DMARC1; p=reject")
    data = tmp_path / "data"
    signed = sign(message(), rsa_key, domain="example.org", selector="s1")
    spoofed = message(subject="Urgent: new bank details")  # unsigned, From example.org

    args = ("up", "--data-dir", str(data), "--proxy-protocol", "on")
    with inlet_process(tmp_path, *args, "--dns-resolver", dns.address) as (_, port, _health):
        genuine_id = send_proxied(port, signed)
        spoofed_id = send_proxied(port, spoofed, source="203.0.113.66")
        monkeypatch.setenv("INLET_DATA_DIR", str(data))

        def shown(message_id: str) -> dict:  # type: ignore[type-arg]
            ran = run_cli("show", "--json", message_id)
            return json.loads(ran.stdout) if ran.returncode == 0 else {}

        wait_for(lambda: shown(spoofed_id).get("status") == "parsed", timeout=30)
        wait_for(lambda: shown(genuine_id).get("status") == "parsed", timeout=30)
        genuine, spoof = shown(genuine_id)["authentication"], shown(spoofed_id)["authentication"]
        text = run_cli("show", genuine_id).stdout

    assert genuine["spf"] == {"result": "pass", "domain": "example.org", "helo_result": "pass"}
    assert genuine["dkim"] == [{"result": "pass", "domain": "example.org", "selector": "s1"}]
    assert genuine["dmarc"] == {"result": "pass", "policy": "reject", "domain": "example.org"}
    assert genuine["header"].startswith("relay.test; spf=pass smtp.mailfrom=bounce@example.org;")
    # The spoof: from an address example.org does not permit, unsigned.
    assert spoof["spf"]["result"] == "fail"
    assert spoof["dkim"] == []
    assert spoof["dmarc"] == {"result": "fail", "policy": "reject", "domain": "example.org"}
    assert "dkim=none" in spoof["header"]
    for line in ("spf:         pass example.org (helo pass)",
                 "dkim:        pass example.org s=s1",
                 "dmarc:       pass (p=reject) example.org",
                 "arc:         none"):  # fmt: skip
        assert line in text
    # DNS was asked once per name: the second message's answers came from the cache.
    assert dns.query_count("_dmarc.example.org", "TXT") == 1
    assert dns.query_count("example.org", "TXT") == 1
