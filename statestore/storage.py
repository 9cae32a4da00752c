"""SQLite persistence: one append-only revision log whose row id is the resourceVersion.

Each write appends a row ``(id, key, event, value)``; the latest row of a key is its current
state and a DELETED row is a tombstone. Watches resume by reading rows after a revision.
History is compacted to a window: rows older than ``current - window`` that a newer row of the
same key supersedes (and old tombstones) are removed, and the compaction point is recorded so
that a resume from before it gets 410 Expired.

Data at rest: values of the resources an encryption configuration covers are encrypted in the
writer thread and decrypted when read back (``encryption.py``). Rows that compaction deletes
are overwritten with zeros (``secure_delete``) and the WAL is truncated after each compaction,
so a deleted Secret's data leaves the files once it leaves the history window.

Durability: WAL mode with ``synchronous=FULL``, so a commit returns only after the WAL is
fsynced. A single writer thread commits *groups* of writes in one transaction (group
commit): concurrent requests share one fsync, and each is acknowledged only after its group
is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from statestore import encryption, filemodes
from wws import logconfig

log = logconfig.get(__name__)

ADDED, MODIFIED, DELETED = 0, 1, 2
EVENT_NAMES = ("ADDED", "MODIFIED", "DELETED")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    id    INTEGER PRIMARY KEY,
    key   TEXT    NOT NULL,
    event INTEGER NOT NULL,
    value BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS log_key_id ON log (key, id);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Record:
    rv: int
    key: str
    event: int
    value: bytes


@dataclass
class _Batch:
    records: list[Record]
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop
    on_durable: Callable[[], None] | None


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA busy_timeout=5000")
    return connection


@dataclass
class Loaded:
    revision: int
    compacted: int
    current: list[Record] = field(default_factory=list)


class Storage:
    def __init__(
        self,
        path: Path,
        *,
        window: int = 20_000,
        compact_every: int = 5_000,
        encryption_config: encryption.Config | None = None,
    ) -> None:
        self.path = path
        self.window = window
        self.encryption = encryption_config
        # A window smaller than the compaction period is compacted once per window of writes.
        self._compact_every = max(1, min(compact_every, window))
        self._since_compaction = 0
        filemodes.create_private_file(path)
        self._db = connect(path)
        # NB: pages freed by this (the writer's) connection are zeroed: compaction must not
        # leave deleted Secrets readable in free pages of the file.
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(_SCHEMA)
        self._reader = connect(path)
        self._reader_lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._writer = threading.Thread(
            target=self._write_loop, name="wws-store-writer", daemon=True
        )
        self.compacted = self._meta_int("compacted")
        self._writer.start()

    def _meta_int(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def load(self) -> Loaded:
        """The current state: the latest non-tombstone row of every key.

        Rows are first brought to the form the encryption configuration writes now."""
        if self.encryption is not None:
            self.reencrypt()
        else:
            encrypted = self._db.execute(
                "SELECT key FROM log WHERE substr(value, 1, 8) = CAST('k8s:enc:' AS BLOB) LIMIT 1"
            ).fetchone()
            if encrypted is not None:
                raise encryption.DecryptError(
                    f"{encrypted[0]}: stored encrypted; start the store with the "
                    "--encryption-provider-config that has its key"
                )
        revision = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM log").fetchone()[0]
        rows = self._db.execute(
            "SELECT l.id, l.key, l.event, l.value FROM log l "
            "JOIN (SELECT key, MAX(id) AS id FROM log GROUP BY key) latest ON l.id = latest.id "
            "WHERE l.event != ? ORDER BY l.id",
            (DELETED,),
        ).fetchall()
        current = [
            Record(rv, key, event, self._decode(key, bytes(value)))
            for rv, key, event, value in rows
        ]
        return Loaded(
            revision=max(revision, self.compacted), compacted=self.compacted, current=current
        )

    async def commit(
        self, records: list[Record], *, on_durable: Callable[[], None] | None = None
    ) -> None:
        """Append records; returns once they are durable (fsynced).

        ``on_durable`` runs on the event loop right after the commit, in commit order, so
        that watchers see events in resourceVersion order.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Batch(records, future, loop, on_durable))
        await future

    def _write_loop(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            batches = [batch]
            # Group commit: take every batch already waiting, so they share one fsync.
            stop = False
            while True:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batches.append(more)
            error: BaseException | None = None
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "INSERT INTO log (id, key, event, value) VALUES (?, ?, ?, ?)",
                    [
                        (r.rv, r.key, r.event, self._encode(r.key, r.value))
                        for b in batches
                        for r in b.records
                    ],
                )
                self._db.execute("COMMIT")
            except BaseException as exc:
                error = exc
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            for done in batches:
                done.loop.call_soon_threadsafe(_settle, done, error)
            if error is None:
                self._since_compaction += sum(len(b.records) for b in batches)
                if self._since_compaction >= self._compact_every:
                    self._since_compaction = 0
                    self._compact()
            if stop:
                return

    def _compact(self) -> None:
        newest = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM log").fetchone()[0]
        point = newest - self.window
        if point <= self.compacted:
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            # Superseded means by a newer row *at or before* the point: the state of every key
            # at the compaction point stays, because a label-filtered watch resumed from any
            # revision after it needs each object's state before the first event it replays.
            self._db.execute(
                "DELETE FROM log WHERE id <= ? AND (event = ? OR id < "
                "(SELECT MAX(l2.id) FROM log l2 WHERE l2.key = log.key AND l2.id <= ?))",
                (point, DELETED, point),
            )
            self._db.execute(
                "INSERT INTO meta (name, value) VALUES ('compacted', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (str(point),),
            )
            self._db.execute("COMMIT")
            self.compacted = point
            log.debug("store.compacted", revision=point)
        except sqlite3.Error as error:
            self._db.execute("ROLLBACK")
            log.warning("store.compaction_failed", error=str(error))
            return
        # The WAL still holds the pages as they were before (deleted rows included): copy it
        # into the database and truncate it. Busy (a reader on an older snapshot) is harmless:
        # the next compaction tries again.
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as error:
            log.warning("store.checkpoint_failed", error=str(error))

    def history(self, after: int, prefix: str) -> Iterator[Record]:
        """Committed records after revision ``after`` whose key starts with ``prefix``."""
        upper = prefix + "\U0010ffff"
        with self._reader_lock:
            rows = self._reader.execute(
                "SELECT id, key, event, value FROM log WHERE id > ? AND key >= ? AND key < ? "
                "ORDER BY id",
                (after, prefix, upper),
            ).fetchall()
        for rv, key, event, value in rows:
            yield Record(rv, key, event, self._decode(key, bytes(value)))

    def state_at(self, key: str, revision: int) -> bytes | None:
        """The value of ``key`` as of ``revision`` (``None``: absent); ``revision`` must not be
        older than the compaction point."""
        with self._reader_lock:
            row = self._reader.execute(
                "SELECT event, value FROM log WHERE key = ? AND id <= ? ORDER BY id DESC LIMIT 1",
                (key, revision),
            ).fetchone()
        if row is None or row[0] == DELETED:
            return None
        return self._decode(key, bytes(row[1]))

    # ------------------------------------------------------------ encryption at rest

    def _encode(self, key: str, value: bytes) -> bytes:
        if self.encryption is None:
            return value
        transformer = self.encryption.for_key(key)
        return value if transformer is None else transformer.to_storage(value, key)

    def _decode(self, key: str, value: bytes) -> bytes:
        if self.encryption is not None:
            transformer = self.encryption.for_key(key)
            if transformer is not None:
                return transformer.from_storage(value, key)[0]
        if value.startswith(b"k8s:enc:"):
            raise encryption.DecryptError(
                f"{key}: stored encrypted; start the store with the "
                "--encryption-provider-config that has its key"
            )
        return value

    def reencrypt(self) -> int:
        """Rewrite every row (history included) that is not in the form the configuration
        writes now: encrypted with another key or provider, or plain where it should not be,
        or encrypted where the configuration no longer covers it. Returns how many rows.

        Run once at start, before the writer takes writes. A value no provider can read
        raises :class:`encryption.DecryptError` (the store does not start)."""
        changed: list[tuple[bytes, int]] = []
        rows = self._db.execute("SELECT id, key, value FROM log").fetchall()
        for rv, key, value in rows:
            value = bytes(value)
            transformer = self.encryption.for_key(key) if self.encryption else None
            if transformer is None:
                if value.startswith(b"k8s:enc:"):
                    raise encryption.DecryptError(
                        f"{key}: stored encrypted, and no provider of the encryption "
                        "configuration covers its resource"
                    )
                continue
            plain, stale = transformer.from_storage(value, key)
            if stale:
                changed.append((transformer.to_storage(plain, key), rv))
        if changed:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("UPDATE log SET value = ? WHERE id = ?", changed)
                self._db.execute("COMMIT")
            except sqlite3.Error:
                self._db.execute("ROLLBACK")
                raise
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            log.info("store.reencrypted", rows=len(changed))
        return len(changed)

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join(timeout=10)
        self._db.close()
        self._reader.close()


def _settle(batch: _Batch, error: BaseException | None) -> None:
    future = batch.future
    if error is None and batch.on_durable is not None:
        batch.on_durable()
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
