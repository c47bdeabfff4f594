"""Choosing adapters from settings: AWS when a bucket is named, embedded otherwise."""

import os
from pathlib import Path

from inlet.blobstore import BlobStore
from inlet.blobstore.filesystem import FilesystemBlobStore
from inlet.errors import ConfigError
from inlet.index import Index

INDEX_FILE = "index.sqlite3"

# `inlet up` records its data dir here so commands in another terminal find it.
STATE_FILE = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / (
    "inlet/data-dir"
)


def open_blob_store(*, bucket: str | None, data_dir: Path) -> BlobStore:
    if bucket:
        from inlet.blobstore.s3 import S3BlobStore, make_s3_client

        return S3BlobStore(make_s3_client(), bucket)
    return FilesystemBlobStore(data_dir)


def open_index(*, table: str | None, data_dir: Path) -> Index:
    if table:
        from inlet.index.dynamodb import DynamoIndex, make_dynamodb_client

        return DynamoIndex(make_dynamodb_client(), table)
    from inlet.index.sqlite import SqliteIndex

    data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteIndex(data_dir / INDEX_FILE)


def check_aws_pair(bucket: str | None, table: str | None) -> None:
    """The message store and the index live in the same place: both in AWS, or both local."""
    if bool(bucket) != bool(table):
        raise ConfigError(
            "INLET_BUCKET (--bucket) and INLET_TABLE (--table) must be set together "
            "(both for AWS, neither for the local data dir)"
        )


def remember_data_dir(data_dir: Path) -> None:
    try:
        STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
        STATE_FILE.write_text(str(data_dir.resolve()) + "\n")
    except OSError:
        pass  # only a convenience for other terminals


def find_data_dir(flag: str | None, env: dict[str, str] | os._Environ[str]) -> Path:
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
