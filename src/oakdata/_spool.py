"""The durable spool: events not yet delivered, kept in files that outlive the process.

Layout: a directory of segment files ``seg-<ns>-<pid>-<rand>.oak``, each a sequence of
records ``[length: u32][crc32: u32][message bytes]``, and beside each a ``.ack`` file holding
how far into the segment everything has been delivered (or dropped for good).

* Every accepted event is written to this process's segment with one ``os.write`` before
  ``capture()`` returns: it is then in the kernel's page cache, so it survives the process
  being killed (SIGKILL, OOM), though not the machine losing power (no fsync per event).
* A process holds an exclusive ``flock`` on each segment it writes or has claimed. A segment
  whose lock can be taken belongs to nobody: its writer died. A new client claims such
  orphans at start and sends what they hold beyond their ack offset; the lock guarantees
  that two processes never claim, and so never send, the same orphan.
* Records are acknowledged in the order they were written, which is the order batches
  resolve in. A torn last record (a crash mid-write) fails its CRC and is ignored.

The queue holds the head of the spool in memory; records beyond ``max_queue_size`` stay on
disk ("unloaded") and are read back as the queue drains, so an outage costs disk up to
``spool_max_bytes``, not memory.
"""

from __future__ import annotations

import contextlib
import os
import struct
import time
import zlib
from collections import deque

from . import _log

RECORD_HEADER = struct.Struct(">II")
ACK_FORMAT = struct.Struct(">QI")
SEGMENT_SUFFIX = ".oak"
ACK_SUFFIX = ".ack"
# A segment is closed and a new one started past this size, so delivered data can be
# deleted file by file.
SEGMENT_BYTES = 4 * 1024 * 1024
READ_CHUNK_BYTES = 1024 * 1024


class SpoolUnavailable(Exception):
    """The spool directory cannot be used (no fcntl, no permission): a configuration error."""


class _Segment:
    __slots__ = ("acked", "end", "fd", "path")

    def __init__(self, path: str, fd: int, acked: int, end: int) -> None:
        self.path = path
        self.fd = fd
        self.acked = acked  # bytes of this segment already delivered or dropped for good
        self.end = end  # bytes of valid records written


class Spool:
    """Not thread-safe: the queue calls it under its own lock."""

    def __init__(self, directory: str, max_bytes: int, *, claim_orphans: bool = True) -> None:
        try:
            import fcntl
        except ImportError as exc:  # Windows
            raise SpoolUnavailable("spool_path needs a POSIX system (fcntl.flock).") from exc
        self._flock = fcntl.flock
        self._lock_flags = fcntl.LOCK_EX | fcntl.LOCK_NB
        self.directory = directory
        self._max_bytes = max_bytes
        self._segments: deque[_Segment] = deque()  # oldest first; the last one is written
        # For each record not yet acknowledged, in order: its size on disk (0 when it could
        # not be written and lives in memory only).
        self._sizes: deque[int] = deque()
        self._bytes = 0  # unacknowledged bytes on disk
        self.unloaded = 0  # records on disk that the queue has not read into memory yet
        self._reader: tuple[_Segment, int] | None = None  # where the next unloaded record is
        self.recovered = 0
        self._write_failed = False
        self._closed = False
        try:
            os.makedirs(directory, exist_ok=True)
            if claim_orphans:
                self._claim_orphans()
            self._writer = self._open_own_segment()
        except OSError as exc:
            self.close()
            raise SpoolUnavailable(f"spool_path cannot be used: {exc.strerror}.") from exc

    # -- the capture path --------------------------------------------------------------------

    def has_room(self, size: int) -> bool:
        """Whether append() would take a record of size bytes now."""
        return not self._closed and self._bytes + RECORD_HEADER.size + size <= self._max_bytes

    def append(self, item: bytes, *, loaded: bool) -> bool:
        """Write one record; False when the spool is full. loaded: the queue keeps it in
        memory too (only while nothing waits unloaded: the queue stays in disk order)."""
        if self._closed:
            return False
        size = RECORD_HEADER.size + len(item)
        if self._bytes + size > self._max_bytes:
            return False
        if self._write_failed or not self._write(item, size):
            if not loaded:
                return False  # neither on disk nor in memory: the caller counts it as full
            size = 0  # in memory only, see _write
        elif loaded:
            self._reader = (self._writer, self._writer.end)
        self._sizes.append(size)
        self._bytes += size
        if not loaded:
            self.unloaded += 1
        return True

    def _write(self, item: bytes, size: int) -> bool:
        writer = self._writer
        try:
            written = os.write(writer.fd, RECORD_HEADER.pack(len(item), zlib.crc32(item)) + item)
            if written != size:
                raise OSError(0, "short write")
        except OSError as exc:
            # Cut off whatever part was written, so later records stay aligned; then keep
            # going in memory only: an app must not stop because its disk is full.
            self._write_failed = True
            _log.error(
                "oakdata spool write failed (%s); events are kept in memory only",
                exc.strerror or exc,
            )
            with contextlib.suppress(OSError):
                os.ftruncate(writer.fd, writer.end)
            return False
        writer.end += size
        if writer.end >= SEGMENT_BYTES:
            self._rotate()
        return True

    # -- the worker --------------------------------------------------------------------------

    def load(self, max_items: int) -> list[bytes]:
        """Read up to max_items unloaded records, oldest first."""
        items: list[bytes] = []
        while self.unloaded and len(items) < max_items and self._reader is not None:
            segment, offset = self._reader
            if offset >= segment.end:
                self._reader = self._next_segment_start(segment)
                continue
            chunk = os.pread(segment.fd, min(READ_CHUNK_BYTES, segment.end - offset), offset)
            length, _ = RECORD_HEADER.unpack_from(chunk)
            if RECORD_HEADER.size + length > len(chunk):  # one record larger than the chunk
                chunk = os.pread(segment.fd, RECORD_HEADER.size + length, offset)
            position = 0
            while position + RECORD_HEADER.size <= len(chunk) and len(items) < max_items:
                length, _ = RECORD_HEADER.unpack_from(chunk, position)
                start = position + RECORD_HEADER.size
                if start + length > len(chunk):
                    break
                items.append(chunk[start : start + length])
                position = start + length
                self.unloaded -= 1
            self._reader = (segment, offset + position)
        return items

    def acknowledge(self, count: int) -> None:
        """The oldest count records are done with (delivered, or dropped for good)."""
        if self._closed:
            return  # a request that outlived shutdown: its records are sent again later
        done = 0
        for _ in range(min(count, len(self._sizes))):
            done += self._sizes.popleft()
        self._bytes -= done
        while done and self._segments:
            segment = self._segments[0]
            available = segment.end - segment.acked
            if done < available or segment is self._writer:
                segment.acked += min(done, available)
                self._write_ack(segment)
                return
            done -= available
            segment.acked = segment.end
            self._delete(self._segments.popleft())

    # -- lifecycle ---------------------------------------------------------------------------

    def for_child(self) -> Spool:
        """In a forked child: the parent's segments stay the parent's (its locks too)."""
        for segment in self._segments:
            _close(segment.fd)
        return Spool(self.directory, self._max_bytes, claim_orphans=False)

    def close(self) -> None:
        """Release the locks; delete what is fully delivered. Safe to call twice."""
        self._closed = True
        while self._segments:
            segment = self._segments.popleft()
            if segment.acked >= segment.end:
                self._delete(segment)
            else:
                _close(segment.fd)

    # -- internals ---------------------------------------------------------------------------

    def _claim_orphans(self) -> None:
        for name in sorted(os.listdir(self.directory)):
            if not name.endswith(SEGMENT_SUFFIX):
                continue
            path = os.path.join(self.directory, name)
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:  # another process finished it meanwhile
                continue
            try:
                self._flock(fd, self._lock_flags)
            except BlockingIOError:
                _close(fd)  # its writer is alive (or another process claimed it)
                continue
            self._adopt(path, fd)

    def _adopt(self, path: str, fd: int) -> None:
        acked = _read_ack(path + ACK_SUFFIX)
        sizes, end = _scan(fd, acked)
        segment = _Segment(path, fd, acked, end)
        if not sizes:
            self._delete(segment)
            return
        self._segments.append(segment)
        if self._reader is None:
            self._reader = (segment, acked)
        self._sizes.extend(sizes)
        self._bytes += sum(sizes)
        self.unloaded += len(sizes)
        self.recovered += len(sizes)

    def _open_own_segment(self) -> _Segment:
        name = f"seg-{time.time_ns():020d}-{os.getpid()}-{os.urandom(4).hex()}{SEGMENT_SUFFIX}"
        path = os.path.join(self.directory, name)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._flock(fd, self._lock_flags)
        segment = _Segment(path, fd, 0, 0)
        self._segments.append(segment)
        if not self.unloaded:
            self._reader = (segment, 0)
        return segment

    def _rotate(self) -> None:
        old = self._writer
        self._writer = self._open_own_segment()
        if old.acked >= old.end:
            self._segments.remove(old)
            self._delete(old)

    def _next_segment_start(self, segment: _Segment) -> tuple[_Segment, int] | None:
        segments = list(self._segments)
        index = segments.index(segment) if segment in segments else -1
        if index + 1 < len(segments):
            following = segments[index + 1]
            return following, following.acked
        return None

    def _write_ack(self, segment: _Segment) -> None:
        record = ACK_FORMAT.pack(segment.acked, zlib.crc32(segment.acked.to_bytes(8, "big")))
        try:
            fd = os.open(segment.path + ACK_SUFFIX, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.pwrite(fd, record, 0)
            finally:
                os.close(fd)
        except OSError:
            pass  # without the ack the records are sent again later; the server de-duplicates

    def _delete(self, segment: _Segment) -> None:
        for path in (segment.path + ACK_SUFFIX, segment.path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        _close(segment.fd)


def _read_ack(path: str) -> int:
    try:
        with open(path, "rb") as ack:
            data = ack.read(ACK_FORMAT.size)
    except FileNotFoundError:
        return 0
    if len(data) != ACK_FORMAT.size:
        return 0
    offset, crc = ACK_FORMAT.unpack(data)
    return offset if zlib.crc32(offset.to_bytes(8, "big")) == crc else 0


def _scan(fd: int, start: int) -> tuple[list[int], int]:
    """Sizes of the valid records from start on, and where they end (a torn tail is cut)."""
    sizes: list[int] = []
    offset = start
    while True:
        header = os.pread(fd, RECORD_HEADER.size, offset)
        if len(header) < RECORD_HEADER.size:
            return sizes, offset
        length, crc = RECORD_HEADER.unpack(header)
        payload = os.pread(fd, length, offset + RECORD_HEADER.size)
        if len(payload) < length or zlib.crc32(payload) != crc:
            return sizes, offset
        sizes.append(RECORD_HEADER.size + length)
        offset += RECORD_HEADER.size + length


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
