"""The league's store: one SQLite database (WAL mode) in the run directory.

Tables: ``players`` (id, kind, population, parent, step, checkpoint, created, reason),
``matches`` (players and returns per role, roles, outcome, length, seed, replay path),
``ratings`` (history per iteration), ``meta_strategies`` (history per iteration: mixtures,
joint distribution, NashConv, exploitability), ``games`` (training-game counts per trainee and
opponent), ``iterations`` (throughput) and ``meta`` (key/value state).

Crash safety: an iteration is one unit. Every row an iteration writes (players, matches,
ratings, meta-strategies, training-game counts, throughput, retirements) carries the iteration
number, and the iteration is committed by the checkpoint marker (the ``checkpoint`` meta key,
written in one transaction with the iteration's counters once its RLlib checkpoint is on disk).
:meth:`Store.rollback` discards everything past the last committed iteration, so a run killed
at any moment resumes by re-running that iteration from its beginning, never counting anything
twice. WAL mode keeps readers (``league status``) consistent while the league writes; readers
read inside one transaction.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metagame.league.run_dir import DB_NAME

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS players (
    id TEXT PRIMARY KEY, seq INTEGER UNIQUE NOT NULL, kind TEXT NOT NULL,
    population TEXT NOT NULL, parent TEXT,
    step INTEGER NOT NULL, iteration INTEGER NOT NULL, checkpoint TEXT NOT NULL,
    created REAL NOT NULL, reason TEXT NOT NULL, retired INTEGER
);
CREATE TABLE IF NOT EXISTS matches (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL, iteration INTEGER NOT NULL,
    players TEXT NOT NULL, seats TEXT NOT NULL, outcome TEXT NOT NULL, returns TEXT NOT NULL,
    length INTEGER NOT NULL, seed INTEGER NOT NULL, replay TEXT, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS expected_returns (
    key TEXT PRIMARY KEY, iteration INTEGER NOT NULL, players TEXT NOT NULL,
    returns TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ratings (
    iteration INTEGER NOT NULL, player TEXT NOT NULL, mu REAL NOT NULL, sigma REAL NOT NULL,
    elo REAL NOT NULL, nash REAL NOT NULL, alpharank REAL NOT NULL, games INTEGER NOT NULL,
    PRIMARY KEY (iteration, player)
);
CREATE TABLE IF NOT EXISTS meta_strategies (
    iteration INTEGER PRIMARY KEY, solver TEXT NOT NULL, players TEXT NOT NULL,
    probs TEXT NOT NULL, joint TEXT, nash_conv REAL, exploitability REAL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS games (
    iteration INTEGER NOT NULL, learner TEXT NOT NULL, opponent TEXT NOT NULL,
    wins INTEGER NOT NULL, draws INTEGER NOT NULL, losses INTEGER NOT NULL,
    PRIMARY KEY (iteration, learner, opponent)
);
CREATE TABLE IF NOT EXISTS iterations (
    iteration INTEGER PRIMARY KEY, steps INTEGER NOT NULL, wall REAL NOT NULL,
    steps_per_s REAL NOT NULL, league_size INTEGER NOT NULL, metrics TEXT NOT NULL,
    created REAL NOT NULL
);
"""

# Tables added after the first stores were written: a store without one is still a league store
# (opened for writing, the table is created; read-only, it reads as empty).
ADDED_TABLES = ("expected_returns",)
ITERATION_TABLES = (
    "players",
    "matches",
    "expected_returns",
    "ratings",
    "meta_strategies",
    "games",
    "iterations",
)


@functools.cache
def _schema_columns() -> dict[str, list[str]]:
    """Every table of SCHEMA and its columns, read from an in-memory database built from it."""
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        db.executescript(SCHEMA)
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            t: [r[1] for r in db.execute(f"PRAGMA table_info({t})")]
            for t in tables
            if not t.startswith("sqlite_")
        }


@dataclass(frozen=True)
class Player:
    id: str
    seq: int
    kind: str  # the learner that made it: main, response, main_exploiter, ...
    population: str
    parent: str | None
    step: int
    iteration: int
    checkpoint: str
    created: float
    reason: str
    retired: int | None  # the iteration that retired the player

    @property
    def active(self) -> bool:
        return self.retired is None


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


@dataclass(frozen=True)
class ExpectedReturns:
    """Each seat's exact expected return when ``players`` play the seats (computed on the game
    tree, not sampled): an entry of the empirical game that rests on no matches."""

    key: str
    iteration: int
    players: list[str]
    returns: list[float]


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
            if not create:
                self._check()
            if readonly:
                self._db.execute("PRAGMA query_only=1")
            else:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as err:
            self._db.close()
            raise ValueError(f"{self.path} is not a league store: {err}") from None
        except ValueError:
            self._db.close()
            raise

    def _has_table(self, table: str) -> bool:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return self._db.execute(query, (table,)).fetchone() is not None

    def _check(self) -> None:
        """Refuses a file that is not an intact league store (empty, truncated, corrupt, another
        program's database, or another schema) before anything reads or writes it."""
        damage = [r[0] for r in self._db.execute("PRAGMA quick_check(1)")]
        if damage != ["ok"]:
            raise ValueError(f"{self.path} is damaged: {' '.join(' '.join(damage).split())}")
        for table, columns in _schema_columns().items():
            found = [r[1] for r in self._db.execute(f"PRAGMA table_info({table})")]
            if not found and table in ADDED_TABLES:
                continue
            if found != columns:
                what = f"has no table {table}" if not found else f"has another {table} table"
                raise ValueError(
                    f"{self.path} is not a league store of this version of metagame: it {what}"
                )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextlib.contextmanager
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

    def read_all(self) -> None:
        """Reads and decodes every row (a check that the contents are whole)."""
        for (key,) in self._db.execute("SELECT key FROM meta").fetchall():
            self.get_meta(key)
        self.players()
        self.matches()
        self.expected_returns()
        self.rating_history()
        self.meta_strategies()
        self.games()
        self.iterations()

    # -- players ---------------------------------------------------------------------------
    def next_player_id(self, prefix: str) -> str:
        """The id the next player gets: ``{prefix}_{seq}`` with a global sequence."""
        seq = self._db.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM players").fetchone()[0]
        return f"{prefix}_{seq:03d}"

    def add_player(
        self,
        prefix: str,
        *,
        kind: str,
        population: str,
        parent: str | None,
        step: int,
        iteration: int,
        checkpoint: str,
        reason: str,
    ) -> Player:
        """Adds a player named :meth:`next_player_id`; its checkpoint must already be on disk."""
        with self.transaction() as db:
            pid = self.next_player_id(prefix)
            seq = int(pid.rsplit("_", 1)[1])
            db.execute(
                "INSERT INTO players (id, seq, kind, population, parent, step, iteration, "
                "checkpoint, created, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    pid,
                    seq,
                    kind,
                    population,
                    parent,
                    step,
                    iteration,
                    checkpoint,
                    time.time(),
                    reason,
                ),
            )
        return self.player(pid)

    def player(self, pid: str) -> Player:
        row = self._db.execute("SELECT * FROM players WHERE id = ?", (pid,)).fetchone()
        if row is None:
            raise ValueError(f"no player {pid!r} in {self.path}")
        return Player(**dict(row))

    def players(self, *, active_only: bool = False) -> list[Player]:
        where = " WHERE retired IS NULL" if active_only else ""
        rows = self._db.execute(f"SELECT * FROM players{where} ORDER BY seq").fetchall()
        return [Player(**dict(r)) for r in rows]

    def retire(self, pid: str, iteration: int) -> None:
        """Retires a player from the active population in ``iteration``."""
        with self.transaction() as db:
            db.execute("UPDATE players SET retired = ? WHERE id = ?", (iteration, pid))

    def rollback(self, iteration: int) -> None:
        """Discards everything written after ``iteration`` (all rows with -1), in one transaction.

        Match ids restart after the last kept match, so a re-run iteration gets the same ids.
        """
        with self.transaction() as db:
            for table in ITERATION_TABLES:
                db.execute(f"DELETE FROM {table} WHERE iteration > ?", (iteration,))
            db.execute("UPDATE players SET retired = NULL WHERE retired > ?", (iteration,))
            db.execute(
                "UPDATE sqlite_sequence SET seq = (SELECT COALESCE(MAX(id), 0) FROM matches) "
                "WHERE name = 'matches'"
            )

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
        save_replay: Callable[[int], str] | None = None,
    ) -> int | None:
        """Commits one match result; returns its id, or None when its key was already recorded.

        ``save_replay(match_id)`` writes the match's replay and returns its path relative to the
        run directory; it runs inside the row's transaction, so a row never names a missing file.
        """
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
                    None,
                    time.time(),
                ),
            )
            if cur.rowcount != 1:
                return None
            match_id = int(cur.lastrowid)
            if save_replay is not None:
                db.execute(
                    "UPDATE matches SET replay = ? WHERE id = ?", (save_replay(match_id), match_id)
                )
        return match_id

    def count_matches(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM matches").fetchone()[0]

    def match_keys(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT key FROM matches")}

    def matches(self, *, since_id: int = 0) -> list[Match]:
        rows = self._db.execute(
            "SELECT * FROM matches WHERE id > ? ORDER BY id", (since_id,)
        ).fetchall()
        return [_match(r) for r in rows]

    def replay_matches(self) -> list[int]:
        """Ids of the matches that have a recorded replay, oldest first."""
        rows = self._db.execute("SELECT id FROM matches WHERE replay IS NOT NULL ORDER BY id")
        return [r[0] for r in rows]

    def match(self, match_id: int) -> Match:
        row = self._db.execute("SELECT * FROM matches WHERE id = ?", (match_id,)).fetchone()
        if row is None:
            raise ValueError(f"no match {match_id} in {self.path}")
        return _match(row)

    def record_expected_returns(
        self, key: str, *, iteration: int, players: Sequence[str], returns: Sequence[float]
    ) -> bool:
        """Commits one profile's exact expected returns; False when ``key`` was recorded."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO expected_returns (key, iteration, players, returns, "
                "created) VALUES (?, ?, ?, ?, ?)",
                (
                    key,
                    iteration,
                    json.dumps(list(players)),
                    json.dumps([float(r) for r in returns]),
                    time.time(),
                ),
            )
        return cur.rowcount == 1

    def expected_returns(self) -> list[ExpectedReturns]:
        if not self._has_table("expected_returns"):  # an older store, read-only
            return []
        rows = self._db.execute("SELECT * FROM expected_returns ORDER BY rowid").fetchall()
        return [
            ExpectedReturns(
                r["key"], r["iteration"], json.loads(r["players"]), json.loads(r["returns"])
            )
            for r in rows
        ]

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
        joint: np.ndarray | None = None,
        nash_conv: float | None = None,
        exploitability: float | None = None,
    ) -> None:
        """Records the meta-strategy: each player's probability within its population's
        mixture, the joint distribution over profiles (correlated equilibria), the NashConv
        on the empirical game and the exact exploitability where the game allows."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO meta_strategies (iteration, solver, players, probs, "
                "joint, nash_conv, exploitability, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    iteration,
                    solver,
                    json.dumps(list(players)),
                    json.dumps([float(p) for p in probs]),
                    None if joint is None else json.dumps(np.asarray(joint).tolist()),
                    nash_conv,
                    exploitability,
                    time.time(),
                ),
            )

    def meta_strategies(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM meta_strategies ORDER BY iteration")
        return [
            {
                **dict(r),
                "players": json.loads(r["players"]),
                "probs": json.loads(r["probs"]),
                "joint": None if r["joint"] is None else json.loads(r["joint"]),
            }
            for r in rows
        ]

    def add_games(
        self, iteration: int, counts: dict[tuple[str, str], tuple[int, int, int]]
    ) -> None:
        """Records one iteration's training-game (wins, draws, losses) per (learner, opponent).

        Keyed by the iteration, so recording an iteration again replaces its counts.
        """
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO games (iteration, learner, opponent, wins, draws, "
                "losses) VALUES (?, ?, ?, ?, ?, ?)",
                [(iteration, a, b, w, d, l) for (a, b), (w, d, l) in counts.items()],
            )

    def games(self) -> dict[tuple[str, str], tuple[int, int, int]]:
        """Training-game (wins, draws, losses) per (learner, opponent), summed over iterations."""
        rows = self._db.execute(
            "SELECT learner, opponent, SUM(wins), SUM(draws), SUM(losses) FROM games "
            "GROUP BY learner, opponent"
        ).fetchall()
        return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}

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
