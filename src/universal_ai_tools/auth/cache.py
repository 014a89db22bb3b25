"""A read-through cache of identity rows, so that authenticating a request costs no query.

Every write that could take a right away (role change, suspension, deletion, a revoked
key, device or session) bumps the identity epoch; a cache whose epoch is stale empties
itself. The epoch lives in a file of the data directory, so every worker process on the
machine sees a bump on its next request: the change takes effect at once everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Generic, Protocol, TypeVar

V = TypeVar("V")
EPOCH_FILE = "identity.epoch"
MAX_ENTRIES = 50_000


class Epoch(Protocol):
    """A value every process reads cheaply and any process can change."""

    def current(self) -> tuple[int, int, int]: ...

    def bump(self) -> None: ...


class FileEpoch:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / EPOCH_FILE
        if not self.path.exists():
            self.bump()

    def current(self) -> tuple[int, int, int]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return (0, 0, 0)
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def bump(self) -> None:
        """Replace the file (new inode): every reader sees a different epoch."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(os.urandom(8).hex())
        os.replace(temporary, self.path)


class IdentityCache(Generic[V]):
    def __init__(self, epoch: Epoch) -> None:
        self.epoch = epoch
        self._seen = epoch.current()
        self._entries: dict[str, V] = {}

    def get(self, key: str) -> V | None:
        now = self.epoch.current()
        if now != self._seen:
            self._entries.clear()
            self._seen = now
        return self._entries.get(key)

    def stamp(self) -> tuple[int, int, int]:
        """Take before reading the database; `put` drops the value if a write came since."""
        return self.epoch.current()

    def put(self, key: str, value: V, stamp: tuple[int, int, int]) -> None:
        if stamp != self.epoch.current() or stamp != self._seen:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = value

    def invalidate(self) -> None:
        """After a write that narrows someone's rights: here and in every other process."""
        self._entries.clear()
        self.epoch.bump()
        self._seen = self.epoch.current()
