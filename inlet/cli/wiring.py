"""Building the adapters from settings, in one place for the CLI, `inlet up`, `inlet relay` and
the Lambdas: S3 and DynamoDB when a bucket and table are named, the embedded filesystem store
and SQLite index under the data dir otherwise."""

import argparse
import functools
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from inlet import settings as config
from inlet.blobstore import BlobStore
from inlet.blobstore.filesystem import FilesystemBlobStore
from inlet.errors import ConfigError, PermanentError
from inlet.events import EventSink, NoEvents
from inlet.index import Index
from inlet.message_store import MessageStore
from inlet.pipeline import Verdicts
from inlet.secret_source import FileSource, SecretsManagerSource, SecretSource
from inlet.settings import Settings

if TYPE_CHECKING:
    from relay.tls import TlsProvider

log = logging.getLogger(__name__)
INDEX_FILE = "index.sqlite3"

# `inlet up` records its data dir here so commands in another terminal find it.
STATE_FILE = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / (
    "inlet/data-dir"
)


class Adapters:
    """The message store, and the index, opened on first use."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedded: bool,
        with_index: bool,
        store_deadline: float | None,
    ) -> None:
        self._bucket = None if embedded else settings.bucket
        self._table = None if embedded else settings.table
        self._data_dir = settings.data_dir
        self._dns_resolver = settings.dns_resolver
        self._hostname = settings.hostname
        self._event_bus = None if embedded else settings.event_bus
        self._webhook = settings.webhook_url is not None
        # The message store and the index live in the same place: both in AWS, or both local.
        # Checked before anything is opened; the relay alone writes to a bucket without one.
        if with_index and bool(self._bucket) != bool(self._table):
            raise ConfigError(
                "INLET_BUCKET (--bucket) and INLET_TABLE (--table) must be set together "
                "(both for AWS, neither for the local data dir)"
            )
        self._with_index = with_index
        self.messages = MessageStore(self._blob_store(store_deadline))

    @property
    def where(self) -> str:
        """Where the messages are kept, for people."""
        return f"s3://{self._bucket}" if self._bucket else str(self._data_dir.resolve())

    @functools.cached_property
    def index(self) -> Index:
        if not self._with_index:
            raise ConfigError("these adapters were opened without an index")
        if self._table:
            from inlet.index.dynamodb import DynamoIndex, make_dynamodb_client

            return DynamoIndex(make_dynamodb_client(), self._table)
        from inlet.index.sqlite import SqliteIndex

        self._data_dir.mkdir(parents=True, exist_ok=True)
        return SqliteIndex(self._data_dir / INDEX_FILE)

    @functools.cached_property
    def verdicts(self) -> Verdicts:
        """The parse step's SPF/DKIM/DMARC/ARC verdicts: DNS through INLET_DNS_RESOLVER (else
        the system's resolver), one cache for the process; authserv-id = INLET_HOSTNAME."""
        from inlet.authentication import Authenticator
        from inlet.dns.breaker import BreakerResolver
        from inlet.dns.cache import CachingResolver
        from inlet.dns.dnspython import DnspythonResolver

        # The cache answers what it holds even while the breaker is open.
        resolver = CachingResolver(BreakerResolver(DnspythonResolver(self._dns_resolver)))
        return Authenticator(resolver, authserv_id=self._hostname)

    @functools.cached_property
    def events(self) -> EventSink:
        """Where events go. On AWS: the EventBridge bus INLET_EVENT_BUS names (none without
        one). Locally: the webhook outbox under the data dir, when `inlet up` has a webhook
        (INLET_WEBHOOK_URL) or, for the other commands, when an outbox is there (a webhook was
        configured: `inlet up` delivers what they add); else none."""
        if self._bucket:
            if not self._event_bus:
                return NoEvents()
            from inlet.eventbridge import EventBridgeSink, make_events_client

            return EventBridgeSink(make_events_client(), self._event_bus)
        from inlet.webhook.outbox import OUTBOX_DIR, Outbox

        directory = self._data_dir / OUTBOX_DIR
        if self._webhook or directory.is_dir():
            return Outbox(directory)
        return NoEvents()

    def close(self) -> None:
        if "index" in self.__dict__:
            self.index.close()

    def sweep_partials(self) -> None:
        """At the start of the process that writes the store: remove the partial files an
        earlier run left (a kill, a full disk). S3 needs nothing here: an upload never
        completed is invisible, and the bucket's lifecycle rule aborts it."""
        blobs = self.messages.blobs
        if isinstance(blobs, FilesystemBlobStore):
            removed = blobs.sweep_partials()
            if removed:
                log.info("removed partial files an earlier run left", extra={"count": removed})

    def _blob_store(self, store_deadline: float | None) -> BlobStore:
        if self._bucket:
            from inlet.blobstore.s3 import S3BlobStore, make_s3_client

            if store_deadline is not None:
                return S3BlobStore.bounded(self._bucket, deadline=store_deadline)
            return S3BlobStore(make_s3_client(), self._bucket)
        return FilesystemBlobStore(self._data_dir)


def open_adapters(
    settings: Settings,
    *,
    embedded: bool = False,
    with_index: bool = True,
    store_deadline: float | None = None,
) -> Adapters:
    """The adapters `settings` name. `embedded`: the data dir's, whatever else is set (`inlet
    up` never touches AWS). `with_index=False`: the message store only (`inlet relay`, which
    may write to a bucket with no table configured); the index is then never opened.
    `store_deadline`: seconds within which the store must answer (the relay's
    INLET_STORE_TIMEOUT): S3 requests are then bounded by it, so a hung S3 cannot keep a
    worker thread for longer; without it, botocore's defaults (the CLI, the functions)."""
    return Adapters(
        settings, embedded=embedded, with_index=with_index, store_deadline=store_deadline
    )


def tool_settings(args: argparse.Namespace, **extra: str | None) -> Settings:
    """The settings of a command other than up/relay: where (--data-dir, else the last `inlet
    up`'s; --bucket and --table; --event-bus) from its flags, the rest from INLET_*."""
    flags = {
        "data_dir": str(find_data_dir(args.data_dir, os.environ)),
        "bucket": args.bucket,
        "table": args.table,
        "event_bus": args.event_bus,
        **extra,
    }
    return config.load("tool", flags)


def secret_source(*, path: Path | None = None, secret_id: str | None = None) -> SecretSource:
    """Where a rotating secret is read from: a file, or a Secrets Manager secret through a
    client configured the standard boto3 way (the task role's credentials on AWS)."""
    if secret_id:
        from inlet.secret_source import make_secretsmanager_client

        return SecretsManagerSource(make_secretsmanager_client(), secret_id)
    if path is None:
        raise ValueError("a secret source needs a path or a secret id")
    return FileSource(path)


def open_tls(settings: Settings) -> "TlsProvider | None":
    """The relay's STARTTLS material as the settings name it (INLET_TLS_SECRET, or
    INLET_TLS_CERT with INLET_TLS_KEY), read once now: material that is not there or does not
    load stops the start-up, with the source and the problem named. None: no STARTTLS."""
    from relay.tls import TlsProvider

    try:
        if settings.tls_secret:
            return TlsProvider.from_secret(secret_source(secret_id=settings.tls_secret))
        if settings.tls_cert and settings.tls_key:
            return TlsProvider.from_files(
                secret_source(path=settings.tls_cert), secret_source(path=settings.tls_key)
            )
    except PermanentError as exc:
        raise ConfigError(f"STARTTLS: {exc}") from exc
    return None


def remember_data_dir(data_dir: Path) -> None:
    try:
        STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
        STATE_FILE.write_text(str(data_dir.resolve()) + "\n")
    except OSError:
        pass  # only a convenience for other terminals


def find_data_dir(flag: str | None, env: Mapping[str, str]) -> Path:
    """--data-dir, else INLET_DATA_DIR, else the dir of the last `inlet up`, else ./inlet-data."""
    if flag:
        return Path(flag)
    if env.get("INLET_DATA_DIR"):
        return Path(env["INLET_DATA_DIR"])
    try:
        remembered = Path(STATE_FILE.read_text().strip())
        if remembered.is_dir():
            return remembered
    except OSError:
        pass
    return Path("./inlet-data")
