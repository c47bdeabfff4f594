"""Peak memory of the parse step on one large signed message, verdicts off and on, through
inlet.pipeline.parse_stored on the filesystem store (as `inlet up` runs it).

A ~38 MiB message (a text part and one 28 MiB base64 attachment, RSA-2048 DKIM-signed with a
key made for this run) is stored in a temp data dir; then a fresh child process per setting
parses it once and prints its VmHWM before and after. DNS (SPF, the key, DMARC) comes from
tests/dns_server.py on 127.0.0.1, in this process.

Usage: .venv/bin/python bench/verdicts_memory.py [--mib 28]
"""

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from relay_bench import vm_hwm_mib

REPO_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_DIR))


def child(mode: str, data_dir: str, message_id: str, port: int) -> None:
    from inlet.authentication import Authenticator
    from inlet.blobstore.filesystem import FilesystemBlobStore
    from inlet.dns.cache import CachingResolver
    from inlet.dns.dnspython import DnspythonResolver
    from inlet.message_store import MessageStore
    from inlet.pipeline import Verdicts, no_verdicts, parse_stored

    messages = MessageStore(FilesystemBlobStore(Path(data_dir)))
    verdicts: Verdicts = no_verdicts
    if mode == "on":
        resolver = CachingResolver(DnspythonResolver(("127.0.0.1", port)))
        verdicts = Authenticator(resolver, authserv_id="bench.test")
    before = vm_hwm_mib(os.getpid())
    document = parse_stored(messages, message_id, now=datetime.now(UTC), verdicts=verdicts)
    after = vm_hwm_mib(os.getpid())
    auth = document["authentication"]
    print(json.dumps({
        "mode": mode, "before": before, "after": after, "status": document["status"],
        "dkim": [s["result"] for s in auth["dkim"]] if auth else None,
    }))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=28, help="attachment size before base64")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, data_dir, message_id, port = args.child
        child(mode, data_dir, message_id, int(port))
        return 0

    from inlet.blobstore.filesystem import FilesystemBlobStore
    from inlet.message_store import MessageStore
    from tests.authentication.signing import make_rsa_key, sign
    from tests.dns_server import DnsServer
    from tests.stored import store_message

    key = make_rsa_key()
    attachment = base64.encodebytes(os.urandom(args.mib << 20)).replace(b"\n", b"\r\n")
    message = (
        b"From: a@example.org\r\nTo: b@example.com\r\nSubject: big\r\n"
        b"Date: Wed, 02 Dec 2026 10:00:00 +0000\r\nMessage-ID: <big@example.org>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="x.bin"\r\n\r\n' + attachment + b"--b--\r\n"
    )
    signed = sign(message, key, domain="example.org", selector="s1")
    data_dir = tempfile.mkdtemp(prefix="inlet-verdicts-memory-")
    try:
        envelope = store_message(
            MessageStore(FilesystemBlobStore(Path(data_dir))), signed, mail_from="x@example.org"
        )
        size = len(signed)
        del attachment, message, signed
        with DnsServer() as dns:
            dns.add("example.org", "TXT", "v=spf1 ip4:127.0.0.1 -all")
            dns.add("s1._domainkey.example.org", "TXT", key.record)
            dns.add("_dmarc.example.org", "TXT", "v=DMARC1; p=reject")
            rows = []
            for mode in ("off", "on"):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", mode, data_dir, envelope.id,
                     str(dns.port)],
                    check=True, capture_output=True, text=True, timeout=300,
                )  # fmt: skip
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"message: {size / 2**20:.1f} MiB, RSA-2048 signed; parse_stored on the filesystem")
    print(f"{'verdicts':<9} {'VmHWM before':>13} {'after':>8} {'growth':>8} {'x msg':>6}  dkim")
    for row in rows:
        growth = row["after"] - row["before"]
        print(
            f"{row['mode']:<9} {row['before']:>10.1f} MiB {row['after']:>8.1f} {growth:>8.1f}"
            f" {growth / (size / 2**20):>6.2f}  {row['dkim']}"
        )
    if rows[1]["dkim"] != ["pass"]:
        print("FAILED: the signature did not verify", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
