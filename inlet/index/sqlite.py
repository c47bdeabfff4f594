"""The index in one SQLite file: the embedded default of `inlet up`.

Several processes share the file (the server indexing as mail arrives, a CLI in another
terminal searching or setting holds), so it runs in WAL mode (readers never block the writer)
with a busy timeout (writers wait for each other instead of failing). Within a process one
connection is shared by every thread under a lock: the local pipeline indexes from a worker
thread while others read, and one connection keeps `close()` simple. Writes begin with
BEGIN IMMEDIATE so a transaction takes the write lock up front and cannot fail half way
through with SQLITE_BUSY on upgrading from a read lock.

Tables: messages (the entry as JSON, by id), lookups (field, value, id) and holds (id).
A search is one SELECT joining lookups to messages, newest first, paginated by id (keyset).
"""

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from inlet.document import Document
from inlet.errors import ConfigError
from inlet.ids import check_id
from inlet.index import IndexUnavailable, Page
from inlet.index.records import (
    Entry,
    SearchField,
    check_limit,
    decode_cursor,
    encode_cursor,
    entry_from_document,
    id_bounds,
    lookup_key,
    lookups_of,
    replaces,
    search_value,
)

SCHEMA_VERSION = 1
BUSY_TIMEOUT_SECONDS = 10.0

# Schema 1. Each statement runs on its own inside the set-up transaction (executescript would
# commit it first). A later schema adds steps for files at an older user_version.
_SCHEMA = """
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    entry TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE lookups (
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (field, value, id)
) WITHOUT ROWID;
CREATE INDEX lookups_by_id ON lookups (id);
CREATE TABLE holds (
    id TEXT PRIMARY KEY
) WITHOUT ROWID;
"""


class SqliteIndex:
    def __init__(self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: no implicit transactions; each write opens its own.
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise IndexUnavailable(f"cannot open the index {self.path}: {exc}") from exc
        try:
            self._setup()
        except BaseException:
            self._db.close()
            raise

    def _setup(self) -> None:
        with self._guard("open"):
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL, not WAL's usual NORMAL: a legal hold must survive a power loss too.
            self._db.execute("PRAGMA synchronous=FULL")
        with self._transaction("open"):
            # Inside the write lock, so two processes opening a new file create it once.
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ConfigError(
                    f"the index {self.path} has schema {version}, newer than this Inlet "
                    f"understands ({SCHEMA_VERSION}); upgrade Inlet"
                )
            if version == 0:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Serialise use of the connection; storage errors become IndexUnavailable."""
        with self._lock:
            try:
                yield
            except sqlite3.ProgrammingError:
                raise  # misuse (a closed index, bad SQL) is a bug, not an outage
            except sqlite3.Error as exc:
                if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
                    raise ConfigError(f"{self.path} is not an Inlet index (not SQLite)") from exc
                raise IndexUnavailable(f"index {self.path} failed to {what}: {exc}") from exc

    @contextmanager
    def _transaction(self, what: str) -> Iterator[None]:
        """One atomic write: all of it or none of it."""
        with self._guard(what):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite may already have rolled back (SQLITE_FULL, I/O errors), and a failed
                # COMMIT leaves the transaction open: end it either way, so the connection is
                # usable for the next write, without hiding the real error behind a second one.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def put(self, document: Document) -> None:
        entry = entry_from_document(document)
        lookups = lookups_of(document)
        stored = entry.to_dict()
        del stored["held"]  # kept in holds, apart from the entry
        with self._transaction(f"index {entry.id}"):
            row = self._db.execute(
                "SELECT status FROM messages WHERE id = ?", (entry.id,)
            ).fetchone()
            if row is not None and not replaces(entry.status, row[0]):
                return
            self._db.execute(
                "INSERT OR REPLACE INTO messages (id, status, entry) VALUES (?, ?, ?)",
                (entry.id, entry.status, json.dumps(stored, ensure_ascii=False)),
            )
            self._db.execute("DELETE FROM lookups WHERE id = ?", (entry.id,))
            self._db.executemany(
                "INSERT INTO lookups (field, value, id) VALUES (?, ?, ?)",
                sorted((field, value, entry.id) for field, value in lookups),
            )

    def search(
        self,
        field: SearchField,
        value: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        normal = search_value(field, value)
        check_limit(limit)
        key = lookup_key(field, normal)
        lower, upper = id_bounds(since, until)
        if cursor is not None:
            # Keyset pagination: the next page holds the ids below the last one returned.
            last = decode_cursor(cursor, key)
            upper = last if upper is None else min(upper, last)
        with self._guard(f"search {field}"):
            rows = self._db.execute(
                "SELECT m.entry FROM lookups AS l JOIN messages AS m ON m.id = l.id"
                " WHERE l.field = ? AND l.value = ? AND l.id >= ? AND l.id < ?"
                " ORDER BY l.id DESC LIMIT ?",
                # "~" sorts after every id character: no upper bound.
                (field, normal, lower, upper if upper is not None else "~", limit + 1),
            ).fetchall()
        entries = [Entry.from_dict(json.loads(row[0]), held=False) for row in rows[:limit]]
        # One row more than asked for says whether another page exists.
        more = len(rows) > limit
        return Page(entries, encode_cursor(key, entries[-1].id) if more else None)

    def get(self, message_id: str) -> Entry | None:
        with self._guard(f"read {message_id}"):
            row = self._db.execute(
                "SELECT entry, EXISTS (SELECT 1 FROM holds WHERE id = ?)"
                " FROM messages WHERE id = ?",
                (message_id, message_id),
            ).fetchone()
        return None if row is None else Entry.from_dict(json.loads(row[0]), held=bool(row[1]))

    def delete(self, message_id: str) -> None:
        check_id(message_id)
        with self._transaction(f"delete {message_id}"):
            self._db.execute("DELETE FROM lookups WHERE id = ?", (message_id,))
            self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def hold(self, message_id: str) -> None:
        check_id(message_id)
        with self._transaction(f"hold {message_id}"):
            self._db.execute("INSERT OR IGNORE INTO holds (id) VALUES (?)", (message_id,))

    def release(self, message_id: str) -> None:
        check_id(message_id)
        with self._transaction(f"release {message_id}"):
            self._db.execute("DELETE FROM holds WHERE id = ?", (message_id,))

    def is_held(self, message_id: str) -> bool:
        with self._guard(f"read the hold of {message_id}"):
            row = self._db.execute("SELECT 1 FROM holds WHERE id = ?", (message_id,)).fetchone()
        return row is not None

    def held_ids(self) -> Iterator[str]:
        # Read at once, so the lock is not held while the caller iterates.
        with self._guard("list holds"):
            rows = self._db.execute("SELECT id FROM holds ORDER BY id").fetchall()
        return iter([row[0] for row in rows])

    def close(self) -> None:
        with self._lock:
            self._db.close()
