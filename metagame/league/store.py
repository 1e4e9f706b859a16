"""The league's store: one SQLite database (WAL mode) in the run directory.

Tables: ``players`` (id, role, parent, step, checkpoint, created, reason), ``matches`` (players,
seats, outcome, returns, length, seed, replay path), ``ratings`` (history per iteration),
``meta_strategies`` (history per iteration), ``games`` (training-game counts per learner and
opponent, from RLlib's metrics), ``iterations`` (throughput) and ``meta`` (key/value state).

Crash safety: every write is its own transaction, committed as soon as the result exists, and
WAL mode keeps readers (``league status``) consistent while the league writes. A match has a
unique key (its pair and index), so replaying an interrupted evaluation after a SIGKILL never
duplicates a row, and what was committed is never lost. Readers read inside one transaction.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DB_NAME = "league.sqlite"
LOCK_FILE = "league.lock"  # flock-ed by the running league process

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS players (
    id TEXT PRIMARY KEY, seq INTEGER UNIQUE NOT NULL, role TEXT NOT NULL, parent TEXT,
    step INTEGER NOT NULL, iteration INTEGER NOT NULL, checkpoint TEXT NOT NULL,
    created REAL NOT NULL, reason TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS matches (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL, iteration INTEGER NOT NULL,
    players TEXT NOT NULL, seats TEXT NOT NULL, outcome TEXT NOT NULL, returns TEXT NOT NULL,
    length INTEGER NOT NULL, seed INTEGER NOT NULL, replay TEXT, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ratings (
    iteration INTEGER NOT NULL, player TEXT NOT NULL, mu REAL NOT NULL, sigma REAL NOT NULL,
    elo REAL NOT NULL, nash REAL NOT NULL, alpharank REAL NOT NULL, games INTEGER NOT NULL,
    PRIMARY KEY (iteration, player)
);
CREATE TABLE IF NOT EXISTS meta_strategies (
    iteration INTEGER PRIMARY KEY, solver TEXT NOT NULL, players TEXT NOT NULL,
    probs TEXT NOT NULL, value REAL, exploitability REAL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS games (
    learner TEXT NOT NULL, opponent TEXT NOT NULL, wins INTEGER NOT NULL,
    draws INTEGER NOT NULL, losses INTEGER NOT NULL, PRIMARY KEY (learner, opponent)
);
CREATE TABLE IF NOT EXISTS iterations (
    iteration INTEGER PRIMARY KEY, steps INTEGER NOT NULL, wall REAL NOT NULL,
    steps_per_s REAL NOT NULL, league_size INTEGER NOT NULL, metrics TEXT NOT NULL,
    created REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Player:
    id: str
    seq: int
    role: str
    parent: str | None
    step: int
    iteration: int
    checkpoint: str
    created: float
    reason: str
    active: bool


@dataclass(frozen=True)
class Match:
    id: int
    key: str
    iteration: int
    players: list[str]
    seats: list[str]
    outcome: str
    returns: list[float]
    length: int
    seed: int
    replay: str | None


def _match(row: sqlite3.Row) -> Match:
    return Match(
        row["id"],
        row["key"],
        row["iteration"],
        json.loads(row["players"]),
        json.loads(row["seats"]),
        row["outcome"],
        json.loads(row["returns"]),
        row["length"],
        row["seed"],
        row["replay"],
    )


class Store:
    """The run directory's database. ``readonly`` connections never write (``league status``)."""

    def __init__(self, run_dir: str | Path, *, readonly: bool = False, create: bool = False):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / DB_NAME
        if not create and not self.path.is_file():
            raise ValueError(f"no league store in {self.run_dir} (missing {DB_NAME})")
        if create:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.readonly = readonly
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA busy_timeout=30000")
            if readonly:
                self._db.execute("PRAGMA query_only=1")
            else:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as err:
            self._db.close()
            raise ValueError(f"{self.path} is not a league store: {err}") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit: committed on success, rolled back on error.

        For readers, a consistent snapshot of every table read inside it.
        """
        self._db.execute("BEGIN" if self.readonly else "BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- key/value state -------------------------------------------------------------------
    def set_meta(self, **values: Any) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in values.items()],
            )

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row["value"])

    # -- players ---------------------------------------------------------------------------
    def next_player_id(self, role: str) -> str:
        """The id the next player of ``role`` gets: ``{role}_{seq}`` with a global sequence."""
        seq = self._db.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM players").fetchone()[0]
        return f"{role}_{seq:03d}"

    def add_player(
        self,
        role: str,
        *,
        parent: str | None,
        step: int,
        iteration: int,
        checkpoint: str,
        reason: str,
    ) -> Player:
        """Adds a player named :meth:`next_player_id`; its checkpoint must already be on disk."""
        with self.transaction() as db:
            pid = self.next_player_id(role)
            seq = int(pid.rsplit("_", 1)[1])
            db.execute(
                "INSERT INTO players (id, seq, role, parent, step, iteration, checkpoint, "
                "created, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (pid, seq, role, parent, step, iteration, checkpoint, time.time(), reason),
            )
        return self.player(pid)

    def player(self, pid: str) -> Player:
        row = self._db.execute("SELECT * FROM players WHERE id = ?", (pid,)).fetchone()
        if row is None:
            raise ValueError(f"no player {pid!r} in {self.path}")
        return Player(**{**dict(row), "active": bool(row["active"])})

    def players(self, *, active_only: bool = False) -> list[Player]:
        where = " WHERE active = 1" if active_only else ""
        rows = self._db.execute(f"SELECT * FROM players{where} ORDER BY seq").fetchall()
        return [Player(**{**dict(r), "active": bool(r["active"])}) for r in rows]

    def retire(self, pid: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE players SET active = 0 WHERE id = ?", (pid,))

    # -- matches ---------------------------------------------------------------------------
    def record_match(
        self,
        key: str,
        *,
        iteration: int,
        players: Sequence[str],
        seats: Sequence[str],
        outcome: str,
        returns: Sequence[float],
        length: int,
        seed: int,
        replay: str | None = None,
    ) -> bool:
        """Commits one match result; returns False when its key was already recorded."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO matches (key, iteration, players, seats, outcome, "
                "returns, length, seed, replay, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    iteration,
                    json.dumps(list(players)),
                    json.dumps(list(seats)),
                    outcome,
                    json.dumps([float(r) for r in returns]),
                    int(length),
                    int(seed),
                    replay,
                    time.time(),
                ),
            )
        return cur.rowcount == 1

    def count_matches(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM matches").fetchone()[0]

    def match_keys(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT key FROM matches")}

    def matches(self, *, since_id: int = 0) -> list[Match]:
        rows = self._db.execute(
            "SELECT * FROM matches WHERE id > ? ORDER BY id", (since_id,)
        ).fetchall()
        return [_match(r) for r in rows]

    def match(self, match_id: int) -> Match:
        row = self._db.execute("SELECT * FROM matches WHERE id = ?", (match_id,)).fetchone()
        if row is None:
            raise ValueError(f"no match {match_id} in {self.path}")
        return _match(row)

    # -- histories -------------------------------------------------------------------------
    def record_ratings(self, iteration: int, rows: Iterable[dict[str, Any]]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO ratings (iteration, player, mu, sigma, elo, nash, "
                "alpharank, games) VALUES (:iteration, :player, :mu, :sigma, :elo, :nash, "
                ":alpharank, :games)",
                [{**r, "iteration": iteration} for r in rows],
            )

    def ratings(self, iteration: int | None = None) -> list[dict[str, Any]]:
        """Rating rows of one iteration (the latest when None), best mu first."""
        if iteration is None:
            iteration = self._db.execute("SELECT MAX(iteration) FROM ratings").fetchone()[0]
        rows = self._db.execute(
            "SELECT * FROM ratings WHERE iteration = ? ORDER BY mu DESC", (iteration,)
        ).fetchall()
        return [dict(r) for r in rows]

    def rating_history(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM ratings ORDER BY iteration, player")
        return [dict(r) for r in rows]

    def record_meta_strategy(
        self,
        iteration: int,
        *,
        solver: str,
        players: Sequence[str],
        probs: Sequence[float],
        value: float | None = None,
        exploitability: float | None = None,
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO meta_strategies (iteration, solver, players, probs, "
                "value, exploitability, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    iteration,
                    solver,
                    json.dumps(list(players)),
                    json.dumps([float(p) for p in probs]),
                    value,
                    exploitability,
                    time.time(),
                ),
            )

    def meta_strategies(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM meta_strategies ORDER BY iteration")
        return [
            {**dict(r), "players": json.loads(r["players"]), "probs": json.loads(r["probs"])}
            for r in rows
        ]

    def add_games(self, counts: dict[tuple[str, str], tuple[int, int, int]]) -> None:
        """Adds training-game (wins, draws, losses) per (learner, opponent)."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO games (learner, opponent, wins, draws, losses) VALUES "
                "(?, ?, ?, ?, ?) ON CONFLICT (learner, opponent) DO UPDATE SET "
                "wins = wins + excluded.wins, draws = draws + excluded.draws, "
                "losses = losses + excluded.losses",
                [(a, b, w, d, l) for (a, b), (w, d, l) in counts.items()],
            )

    def games(self) -> dict[tuple[str, str], tuple[int, int, int]]:
        rows = self._db.execute("SELECT * FROM games").fetchall()
        return {(r["learner"], r["opponent"]): (r["wins"], r["draws"], r["losses"]) for r in rows}

    def record_iteration(
        self,
        iteration: int,
        *,
        steps: int,
        wall: float,
        steps_per_s: float,
        league_size: int,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO iterations (iteration, steps, wall, steps_per_s, "
                "league_size, metrics, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    iteration,
                    steps,
                    wall,
                    steps_per_s,
                    league_size,
                    json.dumps(metrics or {}),
                    time.time(),
                ),
            )

    def iterations(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM iterations ORDER BY iteration")
        return [{**dict(r), "metrics": json.loads(r["metrics"])} for r in rows]


def payoff_table(matches: Iterable[Match], ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Mean return of row player against column player over both seats, and game counts.

    Only two-player matches between players in ``ids`` count; one-player matches fill the
    diagonal with the player's mean return.
    """
    index = {pid: i for i, pid in enumerate(ids)}
    n = len(ids)
    total = np.zeros((n, n))
    count = np.zeros((n, n), dtype=np.int64)
    for m in matches:
        if len(m.players) == 1 and m.players[0] in index:
            i = index[m.players[0]]
            total[i, i] += m.returns[0]
            count[i, i] += 1
        elif len(m.players) == 2 and all(p in index for p in m.players):
            i, j = index[m.players[0]], index[m.players[1]]
            if i == j:
                continue
            total[i, j] += m.returns[0]
            total[j, i] += m.returns[1]
            count[i, j] += 1
            count[j, i] += 1
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0), count
