"""A league's run directory: its layout, its lock, and the files an iteration leaves.

```
RUN_DIR/config.yaml        the config the league runs (resume reads it back)
        league.sqlite      the store (metagame.league.store)
        league.lock        flock-ed by the running league process, which writes its pid there
        players/<id>/      player checkpoints (metagame.agents.policy.save_policy)
        replays/           sampled evaluation matches (metagame.envs.replay)
        checkpoints/       the last RLlib checkpoint (the iteration's commit point)
        progress.csv       one row per iteration
        tb/                TensorBoard events
```
"""

from __future__ import annotations

import csv
import fcntl
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.yaml"
DB_NAME = "league.sqlite"
LOCK_FILE = "league.lock"
PLAYERS_DIR = "players"
REPLAYS_DIR = "replays"
CHECKPOINTS_DIR = "checkpoints"
PROGRESS_FILE = "progress.csv"
TB_DIR = "tb"


class LeagueBusyError(ValueError):
    """The run directory is in use by another league process."""


class RunDir:
    """The paths of one run directory and its lock."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock_fd: int | None = None

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def db(self) -> Path:
        return self.path / DB_NAME

    @property
    def progress(self) -> Path:
        return self.path / PROGRESS_FILE

    @property
    def tb(self) -> Path:
        return self.path / TB_DIR

    def checkpoint(self, iteration: int) -> Path:
        return self.path / CHECKPOINTS_DIR / f"iteration_{iteration:05d}"

    def is_league(self) -> bool:
        return self.db.is_file()

    # -- the lock ---------------------------------------------------------------------------
    def acquire(self) -> None:
        """Takes the lock (creating the directory); LeagueBusyError if another league has it."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LeagueBusyError(
                f"run directory {self.path} is in use by another league"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def locked(self) -> bool:
        """True while a league process (this one or another) holds the lock."""
        path = self.path / LOCK_FILE
        if self._lock_fd is not None:
            return True
        if not path.exists():
            return False
        with path.open("a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
        return False

    # -- files of uncommitted iterations ------------------------------------------------------
    def remove_orphans(self, keep: Iterable[str]) -> None:
        """Deletes players, replays and checkpoints not named (relative paths) in ``keep``."""
        keep = set(keep)
        for folder in (PLAYERS_DIR, REPLAYS_DIR, CHECKPOINTS_DIR):
            root = self.path / folder
            for path in sorted(root.iterdir()) if root.is_dir() else ():
                if f"{folder}/{path.name}" not in keep:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()

    def remove_old_checkpoints(self, current: Path) -> None:
        for old in (self.path / CHECKPOINTS_DIR).iterdir():
            if old != current:
                shutil.rmtree(old, ignore_errors=True)

    def append_progress(self, row: dict[str, Any]) -> None:
        new_file = not self.progress.exists()
        with self.progress.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new_file:
                writer.writeheader()
            writer.writerow(row)

    def truncate_progress(self, last_iteration: int) -> None:
        """Drops progress rows after ``last_iteration`` (atomically: a file renamed over it)."""
        if not self.progress.is_file():
            return
        with self.progress.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["iteration"]) <= last_iteration]
        tmp = self.progress.with_suffix(".tmp")
        with tmp.open("w", newline="") as f:
            if rows:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        tmp.replace(self.progress)
