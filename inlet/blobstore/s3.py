"""The blob store on S3.

Small objects go up in one PutObject; streamed uploads become a multipart upload once a part's
worth has arrived (parts of `part_size`, at least S3's 5 MiB minimum) and are aborted on any
failure, so a failed upload leaves no object and no open upload behind. Every request carries a
SHA-256 checksum that S3 verifies; the same digest serves as SigV4's payload hash, so each byte
is hashed once in this process.

A store that must answer by a deadline (the relay: INLET_STORE_TIMEOUT) is built with
`S3BlobStore.bounded`: no request of its holds the calling thread much past the deadline, and
the requests that clean up a failed attempt (which S3 normally answers in milliseconds) have
a bound of their own, a fraction of it (`StoreBounds`). A cleanup that still fails is logged
with the key and upload id and left to the bucket's lifecycle rule.
"""

import base64
import hashlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, cast

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from inlet.blobstore import READ_CHUNK, Blob, BlobStream, StorageError
from inlet.blobstore.pieces import PiecesReader
from inlet.errors import NotFoundError

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

log = logging.getLogger(__name__)

MIN_PART_SIZE = 5 * 1024 * 1024
_FILE_BODY_MIN = 256 * 1024
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}

_POOL = 64  # connections per client: more than the relay's worker threads
# The default client (CLI, Lambdas): bounded so that a stalled S3 fails a call within minutes,
# not never. (`max_attempts` counts retries: four attempts in all.)
CLIENT_CONFIG = Config(
    connect_timeout=5,
    read_timeout=60,
    retries={"mode": "standard", "max_attempts": 3},
    max_pool_connections=_POOL,
)

_CONNECT_MIN, _CONNECT_MAX = 0.25, 5.0
_WRITE_ATTEMPTS = 4  # as many as the default client makes
_WRITE_ATTEMPT_MIN = 1.0  # seconds of waiting for an answer: less is not worth an attempt
# Cleanup is retried more often, more quickly: what it fails to remove is left behind.
_CLEANUP_ATTEMPTS = 5
_CLEANUP_ATTEMPT_MIN = 0.3
_CLEANUP_SHARE = 1 / 8  # of the deadline, for each cleanup request...
_CLEANUP_MIN, _CLEANUP_MAX = 1.5, 7.5  # ...within these (S3 answers a DELETE in milliseconds)
# A commit that S3 does not answer is followed, in the same worker thread, by at most this
# many cleanup requests (inlet.message_store): AbortMultipartUpload, DeleteObject of the raw
# object, DeleteObject of the envelope. (Strays are not looked for once an abort has failed.)
CLEANUP_REQUESTS = 3


@dataclass(frozen=True, slots=True)
class RequestBounds:
    """How long one S3 request may hold the calling thread: at most `attempts` tries
    (botocore's standard retries), each connecting within `connect` seconds and then waiting
    at most `read` seconds for the next byte of the answer."""

    connect: float
    read: float
    attempts: int

    @classmethod
    def spread(cls, seconds: float, *, attempts: int, shortest: float) -> "RequestBounds":
        """Up to `attempts` attempts whose waits for an answer add up to `seconds`, none
        shorter than `shortest`; connecting may take about a quarter of that more."""
        attempts = max(1, min(attempts, int(seconds // shortest)))
        read = max(seconds / attempts, shortest)
        connect = min(max(read / 4, _CONNECT_MIN), _CONNECT_MAX)
        return cls(connect=connect, read=read, attempts=attempts)

    @property
    def seconds(self) -> float:
        """The longest a request that gets no answer takes, every attempt spent: attempts x
        read when connecting is quick (as it is unless the network fails too), plus up to
        `connect` per attempt. Retry backoff comes on top: tenths of a second, up to 3 s after
        throttling answers (which come quickly). A request that makes progress (a byte within
        each `read`) may last longer: it is being answered."""
        return self.attempts * (self.connect + self.read)

    def config(self) -> Config:
        return Config(
            connect_timeout=self.connect,
            read_timeout=self.read,
            retries={"mode": "standard", "total_max_attempts": self.attempts},
            max_pool_connections=_POOL,
        )


@dataclass(frozen=True, slots=True)
class StoreBounds:
    """The S3 requests of a store that answers by a deadline. A write request (PutObject,
    UploadPart, Create/CompleteMultipartUpload) may wait the whole deadline for answers, over
    up to four attempts: the store cannot confirm later than that anyway. A cleanup request
    (DeleteObject, AbortMultipartUpload, and the listings that find what to remove) may wait
    an eighth of it, between 1.5 and 7.5 s, over up to five attempts: S3 answers those in
    milliseconds, and what a cleanup fails to remove is left behind. So a commit that S3
    never answers holds its worker thread for the deadline plus three cleanup requests:
    60 + 3 x 7.5 = 82.5 s for the default 60 s (2 + 3 x 1.5 = 6.5 s for 2 s); at worst, when
    connecting is slow too, `worker_seconds` (103 s; 10.8 s)."""

    write: RequestBounds
    cleanup: RequestBounds

    @classmethod
    def for_deadline(cls, deadline: float) -> "StoreBounds":
        cleanup = min(max(deadline * _CLEANUP_SHARE, _CLEANUP_MIN), _CLEANUP_MAX)
        return cls(
            write=RequestBounds.spread(
                deadline, attempts=_WRITE_ATTEMPTS, shortest=_WRITE_ATTEMPT_MIN
            ),
            cleanup=RequestBounds.spread(
                cleanup, attempts=_CLEANUP_ATTEMPTS, shortest=_CLEANUP_ATTEMPT_MIN
            ),
        )

    @property
    def worker_seconds(self) -> float:
        """The longest a commit that gets no answer holds its worker thread, cleanup included
        (backoff aside)."""
        return self.write.seconds + CLEANUP_REQUESTS * self.cleanup.seconds


def make_s3_client(config: Config = CLIENT_CONFIG) -> "S3Client":
    """An S3 client configured the standard boto3 way (AWS_ENDPOINT_URL_S3, AWS_REGION, ...)."""
    import boto3

    return boto3.client("s3", config=config)


def _sign_with_known_digest(request: Any, **_: Any) -> None:
    """Reuse the x-amz-checksum-sha256 we computed as the SigV4 payload hash (http endpoints
    would otherwise hash the body a second time)."""
    checksum = request.headers.get("x-amz-checksum-sha256")
    if checksum and "X-Amz-Content-SHA256" not in request.headers:
        request.headers["X-Amz-Content-SHA256"] = base64.b64decode(checksum).hex()


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _reason(exc: Exception) -> str:
    """What went wrong, for a log line: the S3 error code or the exception's type."""
    return _code(exc) if isinstance(exc, ClientError) else type(exc).__name__


def _translate(exc: Exception, what: str) -> Exception:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _NOT_FOUND:
            return NotFoundError(f"no object {what}")
        return StorageError(f"S3 refused {what}: {code}")
    return StorageError(f"S3 unreachable for {what}: {type(exc).__name__}")


class _Body(PiecesReader):
    """A request body over the caller's buffers whose reads are views of them. urllib3 reads
    a body in 128 KiB blocks to send it (botocore, over plain http, in 1 MiB blocks to hash it
    for SigV4), and io.RawIOBase.read allocates and copies each block twice: two more copies
    of every byte, in buffers the relay's byte budget does not see, each a fresh mmap under
    the allocator setting the relay runs with (relay.budget; docs/performance.md, "Fair
    memory")."""

    def read(self, size: int | None = -1) -> bytes | memoryview:
        """Up to `size` bytes as a view of one piece (a short read, as RawIOBase allows); all
        that is left, as bytes, when `size` is negative (what `read()` callers expect)."""
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(self._length), b""))
        if self._index >= len(self._views):
            return b""
        view = self._views[self._index]
        step = min(len(view) - self._offset, size)
        block = view[self._offset : self._offset + step]
        self._advance(step)
        return block

    def readall(self) -> bytes:
        return bytes(self.read(-1))


class S3BlobStore:
    """The blob store on `bucket` through `client`. `cleanup_client`, if given, makes the
    requests that remove (DeleteObject, AbortMultipartUpload) and the small listings that find
    what to remove or whether a retried complete had completed; the same client otherwise."""

    def __init__(
        self,
        client: "S3Client",
        bucket: str,
        *,
        cleanup_client: "S3Client | None" = None,
        part_size: int = MIN_PART_SIZE,
        write_size: int = 1 << 20,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        self._client = client
        self._cleanup_client = cleanup_client or client
        self.bucket = bucket
        self._part_size = part_size
        self._write_size = min(write_size, part_size)
        for op in ("PutObject", "UploadPart"):
            client.meta.events.register(
                f"before-sign.s3.{op}", _sign_with_known_digest, unique_id=f"inlet-digest-{op}"
            )

    @classmethod
    def bounded(cls, bucket: str, *, deadline: float) -> "S3BlobStore":
        """A store on `bucket` whose requests are bounded by `deadline` seconds (StoreBounds),
        through clients configured the standard boto3 way."""
        bounds = StoreBounds.for_deadline(deadline)
        return cls(
            make_s3_client(bounds.write.config()),
            bucket,
            cleanup_client=make_s3_client(bounds.cleanup.config()),
        )

    @property
    def part_size(self) -> int:
        return self._part_size

    @property
    def write_size(self) -> int:
        return self._write_size

    @property
    def max_single_put(self) -> int:
        return self._part_size

    def put(
        self,
        key: str,
        data: bytes | bytearray | memoryview,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        sha256: bytes | None = None,
    ) -> None:
        digest = sha256 if sha256 is not None else hashlib.sha256(data).digest()
        # Large bodies go as a seekable file over the caller's buffer; small ones are copied
        # to bytes (a file body costs an Expect: 100-continue round trip).
        body = _Body([data]) if len(data) >= _FILE_BODY_MIN else bytes(data)
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=cast("IO[bytes]", body),
                ContentType=content_type,
                Metadata=dict(metadata or {}),
                ChecksumSHA256=_b64(digest),
            )
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc, key) from exc
        finally:
            if isinstance(body, PiecesReader):
                body.close()  # release its view of the caller's buffer

    def begin(
        self,
        key: str,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> "S3Upload":
        return S3Upload(self, key, content_type, dict(metadata or {}))

    def get(self, key: str) -> Blob:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            data = response["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc, key) from exc
        return Blob(data, dict(response.get("Metadata", {})))

    def read_chunks(self, key: str, chunk_size: int = READ_CHUNK) -> BlobStream:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc, key) from exc
        body = response["Body"]
        return BlobStream(
            dict(response.get("Metadata", {})), _chunks(body, key, chunk_size), body.close
        )

    def head(self, key: str) -> Mapping[str, str]:
        try:
            response = self._client.head_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc, key) from exc
        return dict(response.get("Metadata", {}))

    def delete(self, key: str) -> None:
        try:
            self._cleanup_client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc, key) from exc

    def list(self, prefix: str) -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"]
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc, prefix) from exc


class S3Upload:
    """Collects writes until a part's worth has arrived; only then starts a multipart upload.
    An upload that completes below one part is a single PutObject. Parts are sent as soon as
    they reach `part_size` (S3 allows parts of unequal size), so memory stays at about one part."""

    def __init__(
        self, store: S3BlobStore, key: str, content_type: str, metadata: dict[str, str]
    ) -> None:
        self._store = store
        self._key = key
        self._content_type = content_type
        self._metadata = metadata
        self._pieces: list[bytes | bytearray] = []
        self._buffered = 0
        self._upload_id: str | None = None
        self._create_sent = False
        self._parts: list[CompletedPartTypeDef] = []
        self._sent = 0
        self._done = False

    @property
    def key(self) -> str:
        return self._key

    @property
    def buffered(self) -> int:
        return self._buffered

    def write(self, data: bytes | bytearray | memoryview) -> None:
        # A bytearray is kept as it is (the port lets an upload keep what it is given).
        self._pieces.append(data if isinstance(data, bytes | bytearray) else bytes(data))
        self._buffered += len(data)
        if self._buffered >= self._store.part_size:
            try:
                self._send_part(self._take())
            except BaseException:
                self.abort()
                raise

    def _take(self) -> list[bytes | bytearray]:
        pieces, self._pieces, self._buffered = self._pieces, [], 0
        return pieces

    def _send_part(self, pieces: list[bytes | bytearray]) -> None:
        client, bucket = self._store._client, self._store.bucket
        digest = hashlib.sha256()
        for piece in pieces:
            digest.update(piece)
        checksum = _b64(digest.digest())
        try:
            if self._upload_id is None:
                self._create_sent = True
                created = client.create_multipart_upload(
                    Bucket=bucket,
                    Key=self._key,
                    ContentType=self._content_type,
                    Metadata=self._metadata,
                    ChecksumAlgorithm="SHA256",
                )
                self._upload_id = created["UploadId"]
            number = len(self._parts) + 1
            with _Body(pieces) as body:
                part = client.upload_part(
                    Bucket=bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    PartNumber=number,
                    Body=cast("IO[bytes]", body),  # a seekable binary file, as botocore needs
                    ChecksumSHA256=checksum,
                )
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc, f"{self._key} part {len(self._parts) + 1}") from exc
        self._parts.append({"PartNumber": number, "ETag": part["ETag"], "ChecksumSHA256": checksum})
        self._sent += sum(len(piece) for piece in pieces)

    def complete(self) -> None:
        try:
            if self._upload_id is None:
                self._store.put(
                    self._key,
                    b"".join(self._take()),
                    content_type=self._content_type,
                    metadata=self._metadata,
                )
            else:
                if self._pieces:
                    self._send_part(self._take())
                try:
                    self._store._client.complete_multipart_upload(
                        Bucket=self._store.bucket,
                        Key=self._key,
                        UploadId=self._upload_id,
                        MultipartUpload={"Parts": self._parts},
                    )
                except ClientError as exc:
                    if _code(exc) != "NoSuchUpload" or not self._completed_before():
                        raise _translate(exc, f"{self._key} (complete)") from exc
                except BotoCoreError as exc:
                    raise _translate(exc, f"{self._key} (complete)") from exc
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._abort_strays()

    def _completed_before(self) -> bool:
        """After NoSuchUpload on a retried Complete: did an earlier attempt, whose answer was
        lost, complete it? Only this upload writes its key (a message's key is new), so an
        object there of this upload's size, made of as many parts, is the one it completed.
        A listing, not a HEAD: the relay may write objects but not read them."""
        try:
            listed = self._store._cleanup_client.list_objects_v2(
                Bucket=self._store.bucket, Prefix=self._key, MaxKeys=1
            )
        except (BotoCoreError, ClientError):
            return False
        completed = any(
            item.get("Key") == self._key
            and item.get("Size") == self._sent
            and str(item.get("ETag", "")).strip('"').endswith(f"-{len(self._parts)}")
            for item in listed.get("Contents", [])
        )
        if completed:
            log.info("multipart complete retried after a lost answer", extra={"key": self._key})
        return completed

    def _abort_strays(self) -> None:
        """Abort uploads of this key that are not this one: a CreateMultipartUpload whose
        answer was lost still made an upload, which the retried create never names."""
        if not self._create_sent:
            return
        self._create_sent = False  # once per upload, however often abort is called
        client, bucket = self._store._cleanup_client, self._store.bucket
        # What cannot be aborted here, the bucket's lifecycle rule aborts after a day.
        try:
            listed = client.list_multipart_uploads(Bucket=bucket, Prefix=self._key)
        except (BotoCoreError, ClientError) as exc:
            log.warning(
                "could not look for stray multipart uploads; left for the bucket's lifecycle rule",
                extra={"key": self._key, "error": _reason(exc)},
            )
            return
        for upload in listed.get("Uploads", []):
            if upload.get("Key") != self._key:
                continue
            try:
                client.abort_multipart_upload(
                    Bucket=bucket, Key=self._key, UploadId=upload["UploadId"]
                )
            except (BotoCoreError, ClientError) as exc:
                log.warning(
                    "abort of stray multipart upload failed; left for the bucket's lifecycle rule",
                    extra={
                        "key": self._key,
                        "upload_id": upload["UploadId"],
                        "error": _reason(exc),
                    },
                )
                return  # the next would fare no better

    def abort(self) -> None:
        self._pieces, self._buffered = [], 0
        if self._done:
            return
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is not None:
            try:
                self._store._cleanup_client.abort_multipart_upload(
                    Bucket=self._store.bucket, Key=self._key, UploadId=upload_id
                )
            except ClientError as exc:
                if _code(exc) != "NoSuchUpload":  # (then there is nothing left to abort)
                    self._abort_failed(upload_id, exc)
                    return
            except BotoCoreError as exc:
                self._abort_failed(upload_id, exc)
                return
        self._abort_strays()

    def _abort_failed(self, upload_id: str, exc: Exception) -> None:
        """Retried already (the cleanup client's attempts): S3 is not answering, or refuses.
        Strays are not looked for either, the listing would fare no better: the bucket's
        lifecycle rule aborts incomplete uploads after a day."""
        self._create_sent = False
        log.warning(
            "abort of multipart upload failed; left for the bucket's lifecycle rule",
            extra={"key": self._key, "upload_id": upload_id, "error": _reason(exc)},
        )


def _chunks(body: "StreamingBody", key: str, chunk_size: int) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(chunk_size)
    except (BotoCoreError, ClientError) as exc:
        raise StorageError(f"cannot read {key}: {exc}") from exc
    finally:
        body.close()
