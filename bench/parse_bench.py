"""Parse benchmark: Inlet's MIME parsing against the stdlib baseline, on a deterministic corpus.

Corpus (seed 1234, shaped like the anchor's; see bench/README.md, "Anchors"): 200 messages, about
103 MB: 49 plain text (~12 KB), 62 multipart/alternative (~26 KB) and 89 multipart/mixed with
base64 attachments (~1.1 MB each). It is built with the stdlib email package the way MUAs emit
mail: Received chains, a DKIM signature, encoded words in some subjects and names,
quoted-printable text and html, base64 attachments with RFC 2231 file names, CRLF line ends.

Configurations, measured in one run and interleaved (each round starts with the next one):

  (a) stdlib  email.message_from_bytes(raw, policy=policy.default), walk(), get_content() on
              every leaf part (the anchor's parse_get_content)
  (b) parse   inlet.parsing.parse_message over 64 KiB chunks of the raw bytes, with a
              save_attachment that does nothing
  (c) s3      inlet.pipeline.parse_stored on S3BlobStore -> a local moto_server: the raw message
              is read from S3, the attachments and the document are written back to it (the
              corpus is uploaded first, untimed)
  (d) fs      inlet.pipeline.parse_stored on FilesystemBlobStore in a temp dir

Each configuration parses its first 3 messages once, untimed, before round 1 (imports, boto3's
first requests). CPU is this process's utime+stime (os.times: every thread of it, boto3's
included). moto_server runs in its own process: its CPU is shown apart and never counted.
MB = 10^6 bytes of raw message; MB/CPU-s = raw MB per second of this process's CPU.

Peak memory, one fresh subprocess per configuration, on one message just under 40 MiB (text and
html bodies plus 3 base64 attachments of 9.5 MiB decoded): the tracemalloc peak for (a) and (b)
(started after the raw bytes were read, so they are not counted; (b) is fed 64 KiB chunks); the
growth of VmHWM (/proc/self/status) over its value just before parsing for (c) and (d); and every
child's absolute VmHWM (a 40 MiB message must parse inside a 1 GiB Lambda).

Usage: .venv/bin/python bench/parse_bench.py [--quick] [--rounds N] [--configs a,b,c,d]
                                             [--skip-memory] [--keep]
Results go to stdout and bench/out/parse-<timestamp>.json (gitignored).
The memory children run as `parse_bench.py --memory-child CONFIG ...` (started by the bench).
"""

import argparse
import base64
import contextlib
import email
import gc
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from relay_bench import (
    AWS_ENV,
    LIVE,
    MIB,
    OUT_DIR,
    Moto,
    cpu_model,
    run_json_child,
    spread,
    stop,
    table,
    vm_hwm_mib,
)

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
SEED = 1234
CHUNK = 64 * 1024
WARMUP_MESSAGES = 3
PASS_TIMEOUT = 600.0  # seconds per (config, round) pass; checked between messages
CHILD_TIMEOUT = 300.0  # seconds per memory subprocess
SMTP_POLICY = policy.default.clone(linesep="\r\n")  # bytes as they travel and are stored
PARSED_AT = datetime(2026, 1, 1, tzinfo=UTC)
LAMBDA_MIB = 1024.0
MEMORY_TARGET_X = 3.0

# Anchors measured before any project code existed: see bench/README.md, "Anchors" (stdlib
# email parsing: 200 msgs, 103.2 MB, seed 1234; medians over 5 rounds on the same 2-core VM).
ANCHORS: dict[str, float] = {
    "stdlib_parse_get_content_mb_s": 53.9,
    "stdlib_parse_get_content_msgs_s": 104.4,
    "stdlib_parse_get_content_plain_msgs_s": 1423.4,
    "stdlib_parse_get_content_alternative_msgs_s": 496.0,
    "stdlib_parse_get_content_attachments_msgs_s": 50.6,
    "stdlib_parse_only_mb_s": 71.9,
    "stdlib_feedparser_64k_mb_s": 60.5,
    "peak_message_from_bytes_x": 6.65,  # tracemalloc peak / raw size, 4.15 MB message
    "peak_feedparser_64k_x": 2.87,
}

# -- the corpus --------------------------------------------------------------------------

CATEGORIES = (("plain", 49), ("alternative", 62), ("attachments", 89))

WORDS_TEXT = (
    "the of and to in is that for it as with was on be by this are at from have or an they "
    "which one you had not but all were when we there can been has more if will would about "
    "their what so up out them some into time only could new other these than then two may "
    "first any like now my such make over our even most me state after also made many did "
    "must before back see through way where get much go well your know should down work year "
    "because come people just over each those take day good how long little use very great "
    "still own public same under while last might us never another again however report "
    "meeting quarter budget invoice schedule review draft contract release customer server "
    "deadline proposal account shipment delivery figures attached please regards thanks "
    "agenda minutes forecast revenue margin pipeline migration outage ticket escalation"
)
WORDS = WORDS_TEXT.split()
ACCENTED_TEXT = (
    "café naïve résumé Zürich Müller déjà façade coöperate jalapeño São Paulo Kraków Ørsted "
    "straße Ångström señor crème brûlée Besançon Malmö Göteborg Łódź Århus"
)
ACCENTED = ACCENTED_TEXT.split()
NAMES = (
    "Alice Martin",
    "Bob Chen",
    "Carol Díaz",
    "Dmitri Ivanov",
    "Émilie Dubois",
    "Farah Haddad",
    "Günther Schäfer",
    "Hiro Tanaka",
    "Ingrid Ødegaard",
    "José Müller",
    "Kwame Mensah",
    "Lena Nováková",
    "Marta Wiśniewska",
    "Nils Åberg",
    "Olivia Brown",
    "Priya Raman",
)
DOMAINS = ("example.org", "example.net", "mail.example.org", "corp.example.net")
MAILERS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0",
    "Microsoft Outlook 16.0",
    "Apple Mail (2.3774.300.61.1.2)",
    "Roundcube Webmail/1.6.9",
)
ATTACHMENT_TYPES = (
    ("application", "pdf", "pdf"),
    ("image", "jpeg", "jpg"),
    ("image", "png", "png"),
    ("application", "zip", "zip"),
    ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
)
FILE_STEMS = ("report", "Rechnung März", "scan", "Präsentation Q3", "photo", "contract draft")
HTML_STYLE = "margin:0 0 12px 0;font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222"


@dataclass(frozen=True)
class CorpusMessage:
    category: str
    raw: bytes
    attachments: int  # how many attachments parse_message should report


@dataclass(frozen=True)
class Corpus:
    messages: tuple[CorpusMessage, ...]

    @property
    def size(self) -> int:
        return sum(len(m.raw) for m in self.messages)

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for m in self.messages:
            digest.update(len(m.raw).to_bytes(8, "big"))
            digest.update(m.raw)
        return digest.hexdigest()

    def categories(self) -> dict[str, dict[str, float]]:
        found: dict[str, dict[str, float]] = {}
        for m in self.messages:
            cat = found.setdefault(m.category, {"messages": 0, "mb": 0.0})
            cat["messages"] += 1
            cat["mb"] += len(m.raw) / 1e6
        return found


def _sentence(rng: random.Random, accents: bool) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 16))]
    if accents and rng.random() < 0.3:
        words[rng.randrange(len(words))] = rng.choice(ACCENTED)
    words[0] = words[0].capitalize()
    return " ".join(words) + rng.choice((".", ".", ".", "?", "!"))


def _paragraphs(rng: random.Random, chars: int, accents: bool) -> list[str]:
    paragraphs: list[str] = []
    total = 0
    while total < chars:
        text = " ".join(_sentence(rng, accents) for _ in range(rng.randint(3, 7)))
        paragraphs.append(text)
        total += len(text) + 2
    return paragraphs


def _address(rng: random.Random) -> str:
    name = rng.choice(NAMES)
    local = name.split()[0].lower().encode("ascii", "ignore").decode() or "user"
    return f'"{name}" <{local}.{rng.randrange(100)}@{rng.choice(DOMAINS)}>'


def _message_id(rng: random.Random) -> str:
    return f"<{rng.getrandbits(64):016x}.{rng.getrandbits(32):08x}@{rng.choice(DOMAINS)}>"


def _headers(rng: random.Random, msg: EmailMessage, when: datetime) -> None:
    """Trace, authentication and originator fields, in the order a receiving MX keeps them."""
    for hop in range(rng.randint(2, 4)):
        at = when + timedelta(seconds=hop * rng.randint(1, 4))
        msg["Received"] = (
            f"from mail-{rng.randrange(1, 99)}.{rng.choice(DOMAINS)} "
            f"(mail-{rng.randrange(1, 99)}.example.net [198.51.100.{rng.randrange(1, 255)}]) "
            f"by mx{hop + 1}.example.com (Postfix) with ESMTPS id {rng.getrandbits(40):010X} "
            f"for <rcpt@example.com>; {format_datetime(at)}"
        )
    encoded = base64.b64encode(rng.randbytes(256)).decode()
    sig = " ".join(encoded[i : i + 64] for i in range(0, len(encoded), 64))  # FWS, as signers do
    body_hash = base64.b64encode(rng.randbytes(32)).decode()
    msg["DKIM-Signature"] = (
        f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={rng.choice(DOMAINS)}; s=s2026; "
        f"t={int(when.timestamp())}; h=from:to:cc:subject:date:message-id:mime-version; "
        f"bh={body_hash}; b={sig}"
    )
    msg["From"] = _address(rng)
    msg["To"] = ", ".join(_address(rng) for _ in range(rng.randint(1, 3)))
    if rng.random() < 0.4:
        msg["Cc"] = ", ".join(_address(rng) for _ in range(rng.randint(1, 4)))
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))).capitalize()
    if rng.random() < 0.35:  # non-ASCII: emitted as RFC 2047 encoded words
        subject = f"{subject} {rng.choice(ACCENTED)} \u2013 {rng.choice(ACCENTED)}"
    replying = rng.random() < 0.4
    msg["Subject"] = ("Re: " if replying else "") + subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = _message_id(rng)
    if replying:
        refs = [_message_id(rng) for _ in range(rng.randint(1, 5))]
        msg["In-Reply-To"] = refs[-1]
        msg["References"] = " ".join(refs)
    msg["User-Agent" if rng.random() < 0.5 else "X-Mailer"] = rng.choice(MAILERS)


def _text(rng: random.Random, paragraphs: list[str]) -> tuple[str, str]:
    """The text body and its transfer encoding: flowed QP (most MUAs) or 72-column 7/8-bit."""
    signature = f"\n-- \n{rng.choice(NAMES)}\n{rng.choice(DOMAINS)}\n"
    if rng.random() < 0.7:
        return "\n\n".join(paragraphs) + "\n" + signature, "quoted-printable"
    wrapped = "\n\n".join(textwrap.fill(p, 72) for p in paragraphs)
    return wrapped + "\n" + signature, "8bit" if not wrapped.isascii() else "7bit"


def _html(paragraphs: list[str]) -> str:
    body = "".join(
        f'<tr><td style="padding:0 24px"><p style="{HTML_STYLE}">{p}</p></td></tr>\n'
        for p in paragraphs
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta http-equiv="Content-Type" '
        'content="text/html; charset=utf-8"></head>\n<body><table role="presentation" '
        'width="100%" cellpadding="0" cellspacing="0" border="0">\n'
        f"{body}</table></body></html>\n"
    )


def _finish(rng: random.Random, msg: EmailMessage) -> None:
    """Deterministic MIME boundaries (the stdlib draws them from the global random), and no
    MIME-Version in body parts (EmailMessage puts one in every part; MUAs do not)."""
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]
        if part.is_multipart():
            part.set_boundary(f"------------{rng.getrandbits(96):024x}")


def _body(rng: random.Random, msg: EmailMessage, chars: int, with_html: bool) -> None:
    paragraphs = _paragraphs(rng, chars, accents=True)
    text, cte = _text(rng, paragraphs)
    msg.set_content(text, cte=cte)
    if with_html:
        msg.add_alternative(_html(paragraphs), subtype="html", cte="quoted-printable")


def _attachments(rng: random.Random, msg: EmailMessage, decoded: int, count: int) -> None:
    weights = [rng.uniform(0.2, 1.0) for _ in range(count)]
    for weight in weights:
        size = max(1024, int(decoded * weight / sum(weights)))
        maintype, subtype, ext = rng.choice(ATTACHMENT_TYPES)
        stem = rng.choice(FILE_STEMS)
        msg.add_attachment(
            rng.randbytes(size),  # compressed formats: as good as random bytes
            maintype=maintype,
            subtype=subtype,
            filename=f"{stem} {rng.randrange(1, 999)}.{ext}",
        )


def build_message(rng: random.Random, category: str, when: datetime) -> CorpusMessage:
    msg = EmailMessage()
    _headers(rng, msg, when)
    count = 0
    if category == "plain":
        _body(rng, msg, int(rng.uniform(6_000, 12_500)), with_html=False)
    elif category == "alternative":
        _body(rng, msg, int(rng.uniform(6_500, 11_500)), with_html=True)
    else:
        _body(rng, msg, int(rng.uniform(1_000, 6_000)), with_html=rng.random() < 0.6)
        count = rng.choice((1, 1, 2, 2, 3))
        _attachments(rng, msg, int(rng.uniform(0.616e6, 1.016e6)), count)
    _finish(rng, msg)
    return CorpusMessage(category, msg.as_bytes(policy=SMTP_POLICY), count)


def build_corpus(scale: int = 1) -> Corpus:
    """The corpus at 1/scale of its size (at least one message per category), shuffled."""
    rng = random.Random(SEED)
    start = datetime(2026, 1, 5, 8, 30, tzinfo=timezone(timedelta(hours=1)))
    plan = [cat for cat, n in CATEGORIES for _ in range(max(1, n // scale))]
    rng.shuffle(plan)
    messages = [
        build_message(rng, cat, start + timedelta(minutes=17 * i)) for i, cat in enumerate(plan)
    ]
    return Corpus(tuple(messages))


def build_big_message(target: int = 40 * MIB) -> bytes:
    """One message just under `target`: text + html bodies and 3 attachments of 9.5 MiB."""
    rng = random.Random(SEED + 1)
    msg = EmailMessage()
    _headers(rng, msg, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    _body(rng, msg, 60_000, with_html=True)
    for ext, (maintype, subtype) in (
        ("pdf", ("application", "pdf")),
        ("zip", ("application", "zip")),
        ("mp4", ("video", "mp4")),
    ):
        msg.add_attachment(
            rng.randbytes(int(9.5 * MIB)),
            maintype=maintype,
            subtype=subtype,
            filename=f"big {ext}.{ext}",
        )
    _finish(rng, msg)
    raw = msg.as_bytes(policy=SMTP_POLICY)
    if len(raw) > target:
        raise RuntimeError(f"the big message is {len(raw)} B, over {target}")
    return raw


# -- the configurations ------------------------------------------------------------------


def chunks_of(raw: bytes, size: int = CHUNK) -> Iterator[bytes]:
    for start in range(0, len(raw), size):
        yield raw[start : start + size]


def null_save(index: int, safe_filename: str, data: bytes, content_type: str, sha256: bytes) -> str:
    return f"attachments/bench/{index}-{safe_filename}"


def stdlib_parse(raw: bytes) -> int:
    """The anchor's parse_get_content: the whole tree, then every leaf's content."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    leaves = 0
    for part in msg.walk():
        if not part.is_multipart():
            part.get_content()  # type: ignore[attr-defined]
            leaves += 1
    return leaves


def _envelope(raw: bytes, message_id: str) -> Any:
    from inlet.envelope import Envelope

    return Envelope(
        id=message_id,
        received_at="2026-01-05T08:30:00.000Z",
        mail_from="sender@example.org",
        rcpt_to=["rcpt@example.com"],
        helo="client.example.org",
        client_ip="127.0.0.1",
        client_port=40000,
        proxied_from=None,
        tls=None,
        auth_user=None,
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        relay="bench",
    )


@dataclass
class Config:
    """One way of parsing the corpus: `parse(i)` handles message i and returns its document
    (or None for the stdlib baseline)."""

    key: str
    label: str
    title: str
    parse: Callable[[int], dict[str, Any] | None] = lambda i: None
    moto: Moto | None = None
    cleanup: Callable[[], None] = lambda: None


def make_configs(
    keys: Sequence[str], corpus: Corpus, workdir: Path, notes: list[str]
) -> list[Config]:
    made: list[Config] = []
    for key in keys:
        if key == "a":

            def parse_a(i: int) -> None:
                stdlib_parse(corpus.messages[i].raw)

            made.append(Config("a", "stdlib", "message_from_bytes + get_content", parse_a))
        elif key == "b":
            made.append(_config_parse(corpus))
        elif key == "c":
            made.append(_config_s3(corpus, workdir, notes))
        elif key == "d":
            made.append(_config_fs(corpus, workdir))
    return made


def _config_parse(corpus: Corpus) -> Config:
    from inlet.ids import mint_id
    from inlet.parsing import parse_message

    envelopes = [_envelope(m.raw, mint_id()) for m in corpus.messages]

    def parse_b(i: int) -> dict[str, Any]:
        return parse_message(
            chunks_of(corpus.messages[i].raw),
            envelopes[i],
            save_attachment=null_save,
            parsed_at=PARSED_AT,
        )

    return Config("b", "parse", "parse_message, 64 KiB chunks, null save", parse_b)


def _stored_config(key: str, label: str, title: str, store: Any, corpus: Corpus) -> Config:
    from inlet.message_store import MessageStore
    from inlet.pipeline import no_verdicts, parse_stored
    from tests.stored import store_message

    messages = MessageStore(store)
    ids = [store_message(messages, m.raw).id for m in corpus.messages]

    def parse_stored_i(i: int) -> dict[str, Any]:
        # Parsing alone: the verdicts' cost is bench/verdicts_bench.py's to measure.
        return parse_stored(messages, ids[i], now=PARSED_AT, verdicts=no_verdicts)

    return Config(key, label, title, parse_stored_i)


def _config_s3(corpus: Corpus, workdir: Path, notes: list[str]) -> Config:
    from inlet.blobstore.s3 import S3BlobStore, make_s3_client

    moto = Moto(workdir / "moto")
    os.environ.update({**AWS_ENV, "AWS_ENDPOINT_URL_S3": moto.endpoint})
    bucket = f"bench-parse-{uuid.uuid4().hex[:12]}"
    moto.client.create_bucket(Bucket=bucket)
    store = S3BlobStore(make_s3_client(), bucket)
    config = _stored_config("c", "s3", "parse_stored, S3 on moto_server", store, corpus)
    config.moto = moto

    def cleanup() -> None:
        expected = sum(m.attachments for m in corpus.messages)
        found = moto.count(bucket, "attachments/", expected)
        parsed = moto.count(bucket, "parsed/", len(corpus.messages))
        if found != expected or parsed != len(corpus.messages):
            notes.append(
                f"(c) s3: bucket holds {found} attachments (expected {expected}) and {parsed} "
                f"parsed documents (expected {len(corpus.messages)})"
            )
        stop(moto.child)

    config.cleanup = cleanup
    return config


def _config_fs(corpus: Corpus, workdir: Path) -> Config:
    from inlet.blobstore.filesystem import FilesystemBlobStore

    root = workdir / "fs"
    store = FilesystemBlobStore(root)
    config = _stored_config("d", "fs", f"parse_stored, filesystem ({fs_type(root)})", store, corpus)
    config.cleanup = lambda: shutil.rmtree(root, ignore_errors=True)
    return config


def fs_type(path: Path) -> str:
    """The type of the file system holding `path` (from /proc/self/mounts)."""
    best, kind = "", "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            mount = fields[1]
            inside = str(path.resolve()).startswith(mount.rstrip("/") + "/") or mount == "/"
            if inside and len(mount) >= len(best):
                best, kind = mount, fields[2]
    return kind


# -- one pass ----------------------------------------------------------------------------


@dataclass
class Pass:
    config: str
    round: int
    status: str = "ok"  # ok | timeout | wrong-documents
    messages: int = 0
    mb: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    moto_cpu_s: float | None = None
    mb_per_s: float = 0.0
    mb_per_cpu_s: float = 0.0
    msgs_per_s: float = 0.0
    cpu_ms_per_msg: float = 0.0
    moto_cpu_ms_per_msg: float | None = None
    by_category: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def process_cpu() -> float:
    times = os.times()
    return times.user + times.system


def run_pass(config: Config, corpus: Corpus, rnd: int) -> Pass:
    result = Pass(config=config.label, round=rnd)
    walls: dict[str, float] = {}
    cpus: dict[str, float] = {}
    counts: dict[str, int] = {}
    sizes: dict[str, int] = {}
    wrong = 0
    gc.collect()
    moto_before = config.moto.cpu() if config.moto else None
    cpu0, t0 = process_cpu(), time.perf_counter()
    deadline = t0 + PASS_TIMEOUT
    for i, message in enumerate(corpus.messages):
        c, w = time.process_time(), time.perf_counter()
        document = config.parse(i)
        w, c = time.perf_counter() - w, time.process_time() - c
        cat = message.category
        walls[cat] = walls.get(cat, 0.0) + w
        cpus[cat] = cpus.get(cat, 0.0) + c
        counts[cat] = counts.get(cat, 0) + 1
        sizes[cat] = sizes.get(cat, 0) + len(message.raw)
        if document is not None and (
            document["status"] != "parsed" or len(document["attachments"]) != message.attachments
        ):
            wrong += 1
            if wrong <= 3:
                result.notes.append(
                    f"message {i} ({cat}): status {document['status']}, "
                    f"{len(document['attachments'])} attachments (expected {message.attachments}), "
                    f"reason {document.get('reason')}"
                )
        if time.perf_counter() > deadline:
            result.status = "timeout"
            result.notes.append(f"stopped after {i + 1} messages ({PASS_TIMEOUT:.0f} s limit)")
            break
    result.wall_s = time.perf_counter() - t0
    result.cpu_s = process_cpu() - cpu0
    if config.moto is not None and moto_before is not None:
        result.moto_cpu_s = config.moto.cpu() - moto_before
    if wrong:
        result.status = "wrong-documents"
        result.notes.append(f"{wrong} documents not parsed as expected")
    _derive(result, walls, cpus, counts, sizes)
    return result


def _derive(
    result: Pass,
    walls: dict[str, float],
    cpus: dict[str, float],
    counts: dict[str, int],
    sizes: dict[str, int],
) -> None:
    result.messages = sum(counts.values())
    result.mb = sum(sizes.values()) / 1e6
    if result.wall_s > 0 and result.cpu_s > 0 and result.messages:
        result.mb_per_s = result.mb / result.wall_s
        result.mb_per_cpu_s = result.mb / result.cpu_s
        result.msgs_per_s = result.messages / result.wall_s
        result.cpu_ms_per_msg = result.cpu_s * 1000 / result.messages
        if result.moto_cpu_s is not None:
            result.moto_cpu_ms_per_msg = result.moto_cpu_s * 1000 / result.messages
    for cat, n in counts.items():
        wall = walls[cat] or 1e-9
        result.by_category[cat] = {
            "messages": n,
            "msgs_per_s": n / wall,
            "mb_per_s": sizes[cat] / 1e6 / wall,
            "cpu_ms_per_msg": cpus[cat] * 1000 / n,
        }


# -- peak memory, one fresh subprocess per configuration ---------------------------------


def vm_hwm_self() -> float:
    return vm_hwm_mib(os.getpid())


def memory_child(args: argparse.Namespace) -> int:
    """Runs in a fresh process: parse the big message once, print one JSON line of figures."""
    figures: dict[str, Any] = {"config": args.memory_child}
    if args.memory_child in ("a", "b"):
        raw = Path(args.message).read_bytes()
        figures["size"] = len(raw)
        if args.memory_child == "b":
            from inlet.ids import mint_id
            from inlet.parsing import parse_message

            envelope = _envelope(raw, mint_id())
        gc.collect()
        figures["hwm_before_mib"] = vm_hwm_self()
        tracemalloc.start()
        if args.memory_child == "a":
            stdlib_parse(raw)
        else:
            parse_message(chunks_of(raw), envelope, save_attachment=null_save, parsed_at=PARSED_AT)
        figures["traced_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    else:
        from inlet.message_store import MessageStore
        from inlet.pipeline import no_verdicts, parse_stored

        if args.memory_child == "c":
            from inlet.blobstore.s3 import S3BlobStore, make_s3_client

            store: Any = S3BlobStore(make_s3_client(), args.bucket)
        else:
            from inlet.blobstore.filesystem import FilesystemBlobStore

            store = FilesystemBlobStore(args.data_dir)
        messages = MessageStore(store)
        messages.exists(args.message_id)  # the client's first request, outside the peak
        figures["size"] = args.size
        gc.collect()
        figures["hwm_before_mib"] = vm_hwm_self()
        document = parse_stored(messages, args.message_id, now=PARSED_AT, verdicts=no_verdicts)
        figures["status"] = document["status"]
        figures["attachments"] = len(document["attachments"])
    figures["hwm_after_mib"] = vm_hwm_self()
    print(json.dumps(figures), flush=True)
    return 0


@dataclass
class Memory:
    config: str
    size: int = 0
    traced_peak_mib: float | None = None
    hwm_before_mib: float = 0.0
    hwm_after_mib: float = 0.0
    hwm_growth_mib: float = 0.0
    status: str = "ok"
    notes: list[str] = field(default_factory=list)

    @property
    def measured_mib(self) -> float:
        """The figure held to the target: tracemalloc for (a)/(b), VmHWM growth otherwise."""
        return self.traced_peak_mib if self.traced_peak_mib is not None else self.hwm_growth_mib

    @property
    def times_size(self) -> float:
        return self.measured_mib * MIB / self.size if self.size else 0.0


def measure_memory(keys: Sequence[str], workdir: Path, notes: list[str]) -> list[Memory]:
    raw = build_big_message()
    path = workdir / "big.eml"
    path.write_bytes(raw)
    print(f"memory message: {len(raw)} B ({len(raw) / MIB:.2f} MiB)", flush=True)
    results = []
    for key in keys:
        extra: list[str] = []
        env = dict(os.environ)
        cleanup: Callable[[], None] | None = None
        if key in ("c", "d"):
            from tests.stored import store_message

            if key == "c":
                from inlet.blobstore.s3 import S3BlobStore, make_s3_client

                moto = Moto(workdir / "moto-memory")
                env.update({**AWS_ENV, "AWS_ENDPOINT_URL_S3": moto.endpoint})
                os.environ.update({**AWS_ENV, "AWS_ENDPOINT_URL_S3": moto.endpoint})
                bucket = f"bench-mem-{uuid.uuid4().hex[:12]}"
                moto.client.create_bucket(Bucket=bucket)
                store: Any = S3BlobStore(make_s3_client(), bucket)
                extra += ["--bucket", bucket]
                cleanup = moto_stopper(moto)
            else:
                from inlet.blobstore.filesystem import FilesystemBlobStore

                data_dir = workdir / "fs-memory"
                store = FilesystemBlobStore(data_dir)
                extra += ["--data-dir", str(data_dir)]
            envelope = store_message(store, raw)
            extra += ["--message-id", envelope.id, "--size", str(len(raw))]
        try:
            results.append(_memory_child_run(key, path, extra, env, workdir))
        finally:
            if cleanup is not None:
                cleanup()
        progress_memory(results[-1])
    notes.extend(f"memory ({m.config}): {n}" for m in results for n in m.notes)
    return results


def moto_stopper(moto: Moto) -> Callable[[], None]:
    def stop_moto() -> None:
        stop(moto.child)

    return stop_moto


def _memory_child_run(
    key: str, path: Path, extra: list[str], env: dict[str, str], workdir: Path
) -> Memory:
    result = Memory(config=key)
    argv = [sys.executable, str(Path(__file__).resolve()), "--memory-child", key]
    argv += ["--message", str(path), *extra]
    out, err = workdir / f"memory-{key}.out", workdir / f"memory-{key}.err"
    child = run_json_child(argv, out, err, timeout=CHILD_TIMEOUT, cwd=REPO_DIR, env=env)
    if child.status != "ok":
        result.status = child.status
        result.notes.append(child.note)
        return result
    figures = child.figures
    result.size = figures["size"]
    if "traced_peak" in figures:
        result.traced_peak_mib = figures["traced_peak"] / MIB
    result.hwm_before_mib = figures["hwm_before_mib"]
    result.hwm_after_mib = figures["hwm_after_mib"]
    result.hwm_growth_mib = result.hwm_after_mib - result.hwm_before_mib
    if "status" in figures and figures["status"] != "parsed":
        result.status = "not-parsed"
        result.notes.append(f"document status {figures['status']}")
    return result


def progress_memory(m: Memory) -> None:
    traced = f"{m.traced_peak_mib:.1f}" if m.traced_peak_mib is not None else "-"
    print(
        f"[memory] ({m.config}) {m.status:<10} traced peak {traced} MiB  "
        f"VmHWM {m.hwm_before_mib:.1f}->{m.hwm_after_mib:.1f} MiB  ({m.times_size:.2f} x msg)",
        flush=True,
    )


# -- summaries ---------------------------------------------------------------------------


def pick(passes: Sequence[Pass], label: str) -> list[Pass]:
    return [p for p in passes if p.config == label]


def cat_values(passes: Sequence[Pass], cat: str, metric: str) -> list[float]:
    return [p.by_category[cat][metric] for p in passes if cat in p.by_category]


THROUGHPUT_HEADER = (
    "config",
    "n",
    "MB/s",
    "MB/CPU-s",
    "msgs/s",
    "CPU ms/msg",
    "plain msgs/s",
    "alternative msgs/s",
    "attachments msgs/s",
    "attachments MB/s",
    "moto CPU ms/msg",
    "status",
)


def throughput_rows(passes: Sequence[Pass], configs: Sequence[Config]) -> list[list[str]]:
    rows = []
    for c in configs:
        ps = pick(passes, c.label)
        if not ps:
            continue
        rows.append(
            [
                f"({c.key}) {c.label}",
                str(len(ps)),
                spread([p.mb_per_s for p in ps], 1),
                spread([p.mb_per_cpu_s for p in ps], 1),
                spread([p.msgs_per_s for p in ps], 1),
                spread([p.cpu_ms_per_msg for p in ps], 2),
                *(spread(cat_values(ps, cat, "msgs_per_s"), 1) for cat, _ in CATEGORIES),
                spread(cat_values(ps, "attachments", "mb_per_s"), 1),
                spread([p.moto_cpu_ms_per_msg for p in ps], 2),
                ",".join(sorted({p.status for p in ps})),
            ]
        )
    return rows


def cpu_rows(passes: Sequence[Pass], configs: Sequence[Config]) -> list[list[str]]:
    rows = []
    for c in configs:
        ps = pick(passes, c.label)
        if ps:
            rows.append(
                [
                    f"({c.key}) {c.label}",
                    *(spread(cat_values(ps, cat, "cpu_ms_per_msg"), 2) for cat, _ in CATEGORIES),
                    spread([p.cpu_ms_per_msg for p in ps], 2),
                ]
            )
    return rows


def paired(passes: Sequence[Pass], num: str, den: str, attr: str) -> list[float]:
    by_round = {p.round: p for p in pick(passes, den)}
    ratios = []
    for p in pick(passes, num):
        other = by_round.get(p.round)
        if other is not None and getattr(other, attr):
            ratios.append(getattr(p, attr) / getattr(other, attr))
    return ratios


def median_of(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


RATIOS = (
    ("MB/s", "mb_per_s"),
    ("MB/CPU-s", "mb_per_cpu_s"),
)


def ratio_rows(
    passes: Sequence[Pass], configs: Sequence[Config]
) -> tuple[list[list[str]], dict[str, Any]]:
    rows, record = [], {}
    base = "stdlib"
    for c in configs:
        if c.label == base or not pick(passes, base):
            continue
        for title, attr in RATIOS:
            ratios = paired(passes, c.label, base, attr)
            num = median_of([getattr(p, attr) for p in pick(passes, c.label)])
            den = median_of([getattr(p, attr) for p in pick(passes, base)])
            of_medians = f"{num / den:.3f}" if num and den else "-"
            rows.append([f"({c.key}) {c.label} / (a) stdlib", title, spread(ratios, 3), of_medians])
            record[f"{c.label}/{base} {title}"] = ratios
    return rows, record


def goal_rows(
    passes: Sequence[Pass], memory: Sequence[Memory]
) -> tuple[list[list[str]], list[dict[str, Any]]]:
    rows, records = [], []
    s3 = median_of([p.mb_per_cpu_s for p in pick(passes, "s3")])
    stdlib = median_of([p.mb_per_s for p in pick(passes, "stdlib")])
    if s3 is not None:
        anchor = ANCHORS["stdlib_parse_get_content_mb_s"]
        limit = stdlib if stdlib is not None else anchor
        verdict = _verdict(s3 >= limit, [p.status for p in pick(passes, "s3")])
        here = f"{stdlib:.1f} MB/s" if stdlib is not None else "-"
        rows.append(
            [
                "(c) s3 MB per CPU-s >= (a) MB/s",
                here,
                f"{anchor} MB/s",
                f"{s3:.1f} MB/CPU-s",
                verdict,
            ]
        )
        records.append({"goal": "s3_mb_per_cpu_s_ge_stdlib", "measured": s3, "limit": limit})
        records[-1]["verdict"] = verdict
    for m in memory:
        if m.status in ("timeout", "failed") or not m.size:
            continue
        label = {"a": "(a) stdlib", "b": "(b) parse", "c": "(c) s3", "d": "(d) fs"}[m.config]
        what = "tracemalloc peak" if m.traced_peak_mib is not None else "VmHWM growth"
        anchor = {"a": "peak_message_from_bytes_x", "b": "peak_feedparser_64k_x"}.get(
            m.config, "peak_feedparser_64k_x"
        )
        ok = m.times_size <= MEMORY_TARGET_X
        verdict = "baseline" if m.config == "a" else _verdict(ok, [m.status])
        rows.append(
            [
                f"{label} {what} <= {MEMORY_TARGET_X:g} x msg",
                "-",
                f"{ANCHORS[anchor]:g} x",
                f"{m.times_size:.2f} x ({m.measured_mib:.1f} MiB)",
                verdict,
            ]
        )
        records.append({"goal": f"memory_{m.config}", "measured_x": m.times_size})
        records[-1]["verdict"] = verdict
        if m.config == "c":
            fits = m.hwm_after_mib <= LAMBDA_MIB
            rows.append(
                [
                    f"(c) s3 absolute VmHWM <= {LAMBDA_MIB:g} MiB (Lambda)",
                    "-",
                    "-",
                    f"{m.hwm_after_mib:.1f} MiB",
                    _verdict(fits, [m.status]),
                ]
            )
            records.append({"goal": "lambda_1gib", "measured_mib": m.hwm_after_mib})
            records[-1]["verdict"] = rows[-1][-1]
    return rows, records


def _verdict(ok: bool, statuses: Sequence[str]) -> str:
    if not ok:
        return "MISS"
    return "PASS" if all(s == "ok" for s in statuses) else "PASS*"


MEMORY_HEADER = (
    "config",
    "tracemalloc peak MiB",
    "x msg",
    "VmHWM before MiB",
    "VmHWM peak MiB (absolute)",
    "VmHWM growth MiB",
    "growth x msg",
    "status",
)


def memory_rows(memory: Sequence[Memory]) -> list[list[str]]:
    titles = {
        "a": "(a) stdlib message_from_bytes + get_content",
        "b": "(b) parse_message, 64 KiB chunks",
        "c": "(c) parse_stored from S3 (moto)",
        "d": "(d) parse_stored from filesystem",
    }
    rows = []
    for m in memory:
        traced = m.traced_peak_mib
        size = m.size or 1
        rows.append(
            [
                titles[m.config],
                f"{traced:.1f}" if traced is not None else "-",
                f"{traced * MIB / size:.2f}" if traced is not None else "-",
                f"{m.hwm_before_mib:.1f}",
                f"{m.hwm_after_mib:.1f}",
                f"{m.hwm_growth_mib:.1f}",
                f"{m.hwm_growth_mib * MIB / size:.2f}",
                m.status,
            ]
        )
    return rows


# -- the run -----------------------------------------------------------------------------


def rotate(items: Sequence[Config], by: int) -> list[Config]:
    k = by % len(items)
    return [*items[k:], *items[:k]]


def progress(p: Pass) -> None:
    print(
        f"[round {p.round}] {p.config:<7} {p.status:<15} {p.messages} msgs  "
        f"{p.mb_per_s:6.1f} MB/s  {p.mb_per_cpu_s:6.1f} MB/CPU-s  "
        f"cpu {p.cpu_ms_per_msg:.2f} ms/msg  wall {p.wall_s:.1f} s",
        flush=True,
    )
    for note in p.notes:
        print(f"    note: {note}", flush=True)


def run(args: argparse.Namespace) -> int:
    keys = [k for k in args.configs.split(",") if k]
    if not keys or any(k not in "abcd" for k in keys):
        print(f"parse_bench: unknown config in {args.configs!r}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(REPO_DIR))  # tests.stored: puts a message the way the relay does
    started = datetime.now(UTC)
    t = time.perf_counter()
    corpus = build_corpus(scale=10 if args.quick else 1)
    built_s = time.perf_counter() - t
    cats = ", ".join(
        f"{cat}: {int(v['messages'])} msgs / {v['mb']:.1f} MB"
        for cat, v in corpus.categories().items()
    )
    digest = corpus.sha256()
    print(
        f"corpus: {len(corpus.messages)} msgs, {corpus.size / 1e6:.1f} MB "
        f"({corpus.size} B), sha256 {digest} (built in {built_s:.1f} s); {cats}",
        flush=True,
    )
    passes: list[Pass] = []
    memory: list[Memory] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="parse-bench-") as tmp:
        workdir = Path(tmp)
        configs: list[Config] = []
        try:
            t = time.perf_counter()
            configs = make_configs(keys, corpus, workdir, notes)
            print(f"set-up (stores filled, untimed): {time.perf_counter() - t:.1f} s", flush=True)
            for config in configs:
                for i in range(min(WARMUP_MESSAGES, len(corpus.messages))):
                    config.parse(i)
            for rnd in range(1, args.rounds + 1):
                for config in rotate(configs, rnd - 1):
                    passes.append(run_pass(config, corpus, rnd))
                    progress(passes[-1])
        finally:
            for config in configs:
                config.cleanup()
        if not args.skip_memory:
            memory = measure_memory(keys, workdir, notes)
        if args.keep:
            kept = Path(tempfile.mkdtemp(prefix="parse-bench-kept-"))
            shutil.copytree(workdir, kept, dirs_exist_ok=True)
            print(f"work dir kept in {kept}")
    report(args, started, corpus, digest, configs, passes, memory, notes)
    return 0


def report(
    args: argparse.Namespace,
    started: datetime,
    corpus: Corpus,
    digest: str,
    configs: Sequence[Config],
    passes: Sequence[Pass],
    memory: Sequence[Memory],
    notes: list[str],
) -> None:
    print()
    print(f"Inlet parse bench, {started:%Y-%m-%d %H:%M:%S} UTC, rounds={args.rounds}")
    print(f"nproc={os.cpu_count()}  python={platform.python_version()}  {cpu_model()}")
    print(
        f"corpus: {len(corpus.messages)} msgs, {corpus.size / 1e6:.1f} MB, sha256 {digest[:16]}..."
    )
    for c in configs:
        print(f"  ({c.key}) {c.label}: {c.title}")
    print("cells: median (min-max) over rounds; MB = 10^6 B of raw message; CPU = this process's")
    print("utime+stime (moto's apart); per-category msgs/s = messages / their summed wall time")
    print("\n== throughput ==")
    print(table(THROUGHPUT_HEADER, throughput_rows(passes, configs)))
    print("\n== CPU ms per message, by category ==")
    header = ("config", *(cat for cat, _ in CATEGORIES), "all")
    print(table(header, cpu_rows(passes, configs)))
    rows, ratios = ratio_rows(passes, configs)
    if rows:
        print("\n== ratios vs (a) stdlib (paired per round: median (min-max); ratio of medians) ==")
        print(table(("ratio", "metric", "per round", "of medians"), rows))
    if memory:
        print(f"\n== peak memory, one ~40 MiB message ({memory[0].size} B), fresh process each ==")
        print(table(MEMORY_HEADER, memory_rows(memory)))
    goals, goal_records = goal_rows(passes, memory)
    print("\n== targets ==")
    print(table(("target", "(a) here", "anchor", "measured", "verdict"), goals))
    print("\n== anchors (bench/README.md, section Anchors; medians of 5 runs) ==")
    print(
        f"  stdlib parse_get_content: {ANCHORS['stdlib_parse_get_content_mb_s']:g} MB/s, "
        f"{ANCHORS['stdlib_parse_get_content_msgs_s']:g} msgs/s (plain "
        f"{ANCHORS['stdlib_parse_get_content_plain_msgs_s']:g}, alternative "
        f"{ANCHORS['stdlib_parse_get_content_alternative_msgs_s']:g}, attachments "
        f"{ANCHORS['stdlib_parse_get_content_attachments_msgs_s']:g} msgs/s)"
    )
    print(
        f"  stdlib parse only: {ANCHORS['stdlib_parse_only_mb_s']:g} MB/s; BytesFeedParser "
        f"64 KiB + get_content: {ANCHORS['stdlib_feedparser_64k_mb_s']:g} MB/s"
    )
    print(
        f"  peak (tracemalloc, 4.15 MB message): message_from_bytes "
        f"{ANCHORS['peak_message_from_bytes_x']:g} x, BytesFeedParser 64 KiB "
        f"{ANCHORS['peak_feedparser_64k_x']:g} x"
    )
    all_notes = [f"  [round {p.round}] {p.config}: {n}" for p in passes for n in p.notes]
    all_notes += [f"  {n}" for n in notes]
    print("\n== notes ==")
    print("\n".join(all_notes) if all_notes else "  none")
    path = write_json(args, started, corpus, digest, configs, passes, memory, ratios, goal_records)
    print(f"\nJSON: {path}")


def write_json(
    args: argparse.Namespace,
    started: datetime,
    corpus: Corpus,
    digest: str,
    configs: Sequence[Config],
    passes: Sequence[Pass],
    memory: Sequence[Memory],
    ratios: dict[str, Any],
    goals: list[dict[str, Any]],
) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"parse-{started:%Y%m%dT%H%M%SZ}.json"
    doc = {
        "started": started.isoformat(),
        "command": [sys.executable, *sys.argv],
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": sys.version},
        "params": {k: v for k, v in vars(args).items() if not k.startswith("memory")},
        "corpus": {
            "seed": SEED,
            "messages": len(corpus.messages),
            "bytes": corpus.size,
            "sha256": digest,
            "categories": corpus.categories(),
        },
        "configs": {c.key: {"label": c.label, "title": c.title} for c in configs},
        "anchors": {"source": "bench/README.md#anchors", **ANCHORS},
        "passes": [asdict(p) for p in passes],
        "ratios_vs_stdlib": ratios,
        "memory": [{**asdict(m), "times_size": m.times_size} for m in memory],
        "targets": goals,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


# -- entry point -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1/10 of the corpus, 1 round (smoke run)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    p.add_argument("--configs", default="a,b,c,d", help="subset of a,b,c,d (default all)")
    p.add_argument("--skip-memory", action="store_true", help="no peak-memory subprocesses")
    p.add_argument("--keep", action="store_true", help="keep the work dir (logs, stores)")
    p.add_argument("--memory-child", choices="abcd", help=argparse.SUPPRESS)
    p.add_argument("--message", default="", help=argparse.SUPPRESS)
    p.add_argument("--message-id", default="", help=argparse.SUPPRESS)
    p.add_argument("--bucket", default="", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", default="", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        return memory_child(args)
    try:
        return run(args)
    finally:
        for child in list(LIVE):
            stop(child, timeout=10)


if __name__ == "__main__":
    sys.exit(main())
