"""The revision board: what a cached decision is checked against before it is reused.

A board is a small shared-memory table (a file under /dev/shm, mapped by every process of the
service on this host) of slots; each slot holds two counters, `started` and `finished`. Every
fact the policy reads belongs to an *entity* (a portal, portal user, domain, administration or
domain user, by id), and every entity hashes to one slot; slot 0 stands for "everything".

Writers (see `freshness.py`): when a transaction flushes a change to an entity, its slot's
`started` goes up; when that transaction ends (committed or rolled back), its `finished` goes up.
A slot is *quiescent* when the two are equal, and its version is then that number.

Readers (`Authorizer`): read the versions of the slots a check depends on *before* loading its
facts and again *after* deciding; a decision is stored only when both reads saw the same quiescent
versions, and reused only while the slots still show them. So a cached decision was computed from
data that no write touched while it was read, and any write to one of its entities, committed or in
flight, retires it. A hash collision only retires more entries than needed.

The board covers the processes of one host that open the same file: every writer of the database
must run on this host (`DECISION_CACHE=off` otherwise; see the README).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import threading
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

SLOTS = 1 << 16  # 65,536 slots of 16 bytes: a 1 MiB file
GLOBAL = 0  # the slot of changes that may touch any entity (imports, bulk statements)
_MAGIC = b"yuki-authz board v1\0\0\0\0\0\0\0\0\0\0\0\0\0"  # 32 bytes
_HEADER = 32
_SIZE = _HEADER + SLOTS * 16


def _check_private(path: Path, folder: bool) -> None:
    """Refuse a board folder that another user owns or may write (it sits in shared memory)."""
    info = path.lstat()
    if info.st_uid != os.geteuid() or (folder and info.st_mode & 0o022):
        raise ValueError(f"{path} must belong to this user and not be writable by others")


def slot_of(type_name: str, entity_id: str) -> int:
    """Return the slot of an entity: stable across processes (unlike `hash()`), never 0."""
    return 1 + zlib.crc32(f"{type_name}\0{entity_id}".encode()) % (SLOTS - 1)


class RevisionBoard:
    """A mapped board file. Open it before forking; children share the mapping."""

    def __init__(self, path: str | Path, *, reset: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _check_private(self.path.parent, folder=True)
        if reset:
            # A fresh file (new inode) so that slots left in flight by a crashed writer are gone.
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            self._create(tmp)
            os.replace(tmp, self.path)
        elif not self.path.exists():
            self._create_exclusive(self.path)
        # Kept open for the writers' lock. POSIX record locks belong to a (process, file) pair,
        # so a forked worker locking through this inherited descriptor excludes its siblings.
        self._fd = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW)
        info = os.fstat(self._fd)
        if info.st_uid != os.geteuid() or info.st_mode & 0o077 or info.st_size != _SIZE:
            os.close(self._fd)
            raise ValueError(
                f"{self.path} is not a revision board of this version owned by this user "
                "(mode 0600)"
            )
        self._map = mmap.mmap(self._fd, _SIZE)
        self._identity = (info.st_dev, info.st_ino)
        if self._map[:_HEADER] != _MAGIC:
            raise ValueError(f"{self.path} is not a revision board of this version")
        # 8-byte aligned machine words: an index read or write is one load or store.
        self._words = memoryview(self._map)[_HEADER:].cast("Q")
        self._thread_lock = threading.Lock()

    @staticmethod
    def _create(path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, _SIZE)
            os.pwrite(fd, _MAGIC, 0)
        finally:
            os.close(fd)

    @classmethod
    def _create_exclusive(cls, path: Path) -> None:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        cls._create(tmp)
        try:
            os.link(tmp, path)  # atomic: a concurrent creator's file wins, ours is dropped
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)

    # -- readers -------------------------------------------------------------------------
    def current(self) -> bool:
        """Tell whether the path still names this board's file (one stat, ~1 us).

        A process started after the file was deleted or replaced maps another file, and its writes
        would not show here: then nothing may be served from the cache.
        """
        try:
            info = os.stat(self.path)
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == self._identity

    def versions(self, slots: Sequence[int]) -> tuple[int, ...] | None:
        """Return the slots' versions, or None when a write to one of them is in flight."""
        words = self._words
        out = []
        for slot in slots:
            started = words[2 * slot]
            if words[2 * slot + 1] != started:
                return None
            out.append(started)
        return tuple(out)

    # -- writers -------------------------------------------------------------------------
    def begin(self, slots: Iterable[int]) -> None:
        """Mark writes to these slots as in flight (before the data can become visible)."""
        self._add(slots, 0)

    def end(self, slots: Iterable[int]) -> None:
        """Mark the writes begun on these slots as over (after commit or rollback)."""
        self._add(slots, 1)

    def _add(self, slots: Iterable[int], offset: int) -> None:
        wanted = sorted(set(slots))
        if not wanted:
            return
        words = self._words
        # Increments are read-modify-write: one writer at a time, across threads and processes.
        with self._thread_lock:
            fcntl.lockf(self._fd, fcntl.LOCK_EX)
            try:
                for slot in wanted:
                    words[2 * slot + offset] += 1
            finally:
                fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def in_flight(self) -> int:
        """Count the slots with a write in flight (for /metrics and tests)."""
        words = self._words
        return sum(1 for slot in range(SLOTS) if words[2 * slot] != words[2 * slot + 1])
