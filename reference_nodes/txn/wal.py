"""The write-ahead log: records forced to disk before the node acts on them.

One record per line: ``<crc32 of the JSON, 8 hex digits> <JSON>\\n``. A record is valid only
if its line is complete and its checksum matches, so a record torn by a crash — cut at any
byte — is recognised and dropped at recovery, with anything after it (nothing can be after
a torn record: the log is append-only and a crash stops the writer).

Forcing is group commit: :meth:`WriteAheadLog.force` returns a future that settles once the
record is on disk; one ``fsync`` in a worker thread makes durable every record appended
before it started, so concurrent transactions share the cost of a flush.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import zlib
from typing import Any

log = logging.getLogger("reference_nodes.txn")

Record = dict[str, Any]


def encode(record: Record) -> bytes:
    text = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
    return b"%08x " % zlib.crc32(text) + text + b"\n"


def decode(line: bytes) -> Record | None:
    """The record on ``line``, or None if it is torn or corrupt."""
    if not line.endswith(b"\n") or len(line) < 10 or line[8:9] != b" ":
        return None
    text = line[9:-1]
    try:
        if int(line[:8], 16) != zlib.crc32(text):
            return None
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def read_records(path: str) -> tuple[list[Record], int]:
    """Every valid record of the log at ``path`` and the length of its valid prefix."""
    records: list[Record] = []
    valid = 0
    if not os.path.exists(path):
        return records, valid
    with open(path, "rb") as source:
        for line in source:
            record = decode(line)
            if record is None:
                break
            records.append(record)
            valid += len(line)
    return records, valid


class WriteAheadLog:
    def __init__(self, path: str, sync: bool = True) -> None:
        self.path = path
        self.fsync = sync
        self.records, valid = read_records(path)
        size = os.path.getsize(path) if os.path.exists(path) else 0
        if size > valid:
            log.warning("dropping %d byte(s) of a torn record at the end of %s",
                        size - valid, path)
        self._file = open(path, "ab")  # noqa: SIM115
        self._file.truncate(valid)
        self._appended = len(self.records)
        self._durable = len(self.records)
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._flushing = False
        self.flushes = 0

    def __len__(self) -> int:
        return self._appended

    def append(self, record: Record) -> int:
        """Append ``record`` (not yet durable); returns its number."""
        self._file.write(encode(record))
        self.records.append(record)
        self._appended += 1
        return self._appended

    def sync(self) -> None:
        """Make everything appended so far durable, now (blocking: for start-up)."""
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())
        self.flushes += 1
        self._durable = self._appended

    def force(self, record: Record) -> asyncio.Future[None]:
        """Append ``record``; the future settles when it is on disk."""
        number = self.append(record)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if number <= self._durable:
            future.set_result(None)
            return future
        self._waiters.append((number, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiters:
                target = self._appended
                self._file.flush()
                if self.fsync:
                    await loop.run_in_executor(None, os.fsync, self._file.fileno())
                self.flushes += 1
                self._durable = target
                still = []
                for number, future in self._waiters:
                    if number <= target:
                        if not future.done():
                            future.set_result(None)
                    else:
                        still.append((number, future))
                self._waiters = still
        finally:
            self._flushing = False

    def close(self) -> None:
        self._file.close()
