"""The SQLite store: idempotent match rows, players, histories, concurrent readers."""

import multiprocessing as mp
import sqlite3

import numpy as np
import pytest

from metagame.league.store import Store, _schema_columns, payoff_table


def test_players_matches_and_payoff_table(tmp_path, store_rows):
    def record(store, key, a, b, ra, rb):
        return store_rows.match(store, key, [a, b], [ra, rb], outcome="0", length=3, seed=1)

    with Store(tmp_path, create=True) as store:
        a = store_rows.player(store, "a", reason="x")
        b = store_rows.player(store, "b", parent=a.id, step=9, iteration=1, reason="y")
        assert (a.id, b.id) == ("main_000", "main_001") and b.parent == a.id
        assert record(store, "k1", a.id, b.id, 1.0, -1.0)
        assert not record(store, "k1", a.id, b.id, 5.0, 5.0)  # same key: ignored
        assert record(store, "k2", b.id, a.id, 2.0, -2.0)
        M, n = payoff_table(store.matches(), [a.id, b.id])
        np.testing.assert_allclose(M, [[0.0, -0.5], [0.5, 0.0]])
        np.testing.assert_array_equal(n, [[0, 2], [2, 0]])
        store.retire(a.id, 1)
        assert [p.id for p in store.players(active_only=True)] == [b.id]
        assert store.player(a.id).retired == 1 and not store.player(a.id).active
        with pytest.raises(ValueError, match="no player 'nope'"):
            store.player("nope")


def test_transaction_rolls_back(tmp_path):
    with Store(tmp_path, create=True) as store:
        with pytest.raises(RuntimeError), store.transaction() as db:
            db.execute("INSERT INTO meta (key, value) VALUES ('x', '1')")
            raise RuntimeError
        assert store.get_meta("x") is None


def test_missing_and_corrupt_store(tmp_path):
    with pytest.raises(ValueError, match="no league store in"):
        Store(tmp_path)
    (tmp_path / "league.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(ValueError, match="is not a league store"):
        Store(tmp_path)


def test_a_store_from_before_exact_payoffs_opens(tmp_path):
    """A store written before the expected_returns table existed reads as having none, and
    gets the table when opened for writing; a store missing an original table is refused."""
    with Store(tmp_path, create=True) as store:
        store.set_meta(x=1)
    with sqlite3.connect(tmp_path / "league.sqlite") as db:
        db.execute("DROP TABLE expected_returns")
    with Store(tmp_path, readonly=True) as store:
        assert store.expected_returns() == [] and store.get_meta("x") == 1
    with Store(tmp_path) as store:
        assert store.record_expected_returns(
            "exact|a|b", iteration=0, players="ab", returns=[1, -1]
        )
    with sqlite3.connect(tmp_path / "league.sqlite") as db:
        db.execute("DROP TABLE ratings")
    with pytest.raises(ValueError, match="has no table ratings"):
        Store(tmp_path)


def _iteration(store, rows, it, parent):
    """What one league iteration writes: a player, its matches, games, ratings, a retirement."""
    p = rows.player(store, f"p{it}", parent=parent, step=it, iteration=it, reason="")
    for k in range(2):
        rows.match(store, f"{it}|{k}", [p.id, parent or p.id], [0.0, 0.0], iteration=it, seed=k)
    store.add_games(it, {("main", p.id): (it, 1, 2)})
    store.record_ratings(
        it,
        [
            {
                "player": p.id,
                "mu": 1.0,
                "sigma": 1.0,
                "elo": 0,
                "nash": 1,
                "alpharank": 1,
                "games": 2,
            }
        ],
    )
    store.record_meta_strategy(it, solver="nash", players=[p.id], probs=[1.0])
    store.record_iteration(it, steps=it, wall=0.0, steps_per_s=1.0, league_size=it + 1)
    if parent is not None:
        store.retire(parent, it)
    return p.id


def _rows(store):
    with store.transaction() as db:
        return {
            table: db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("players", "matches", "games", "ratings", "iterations", "sqlite_sequence")
        }


def _strip(rows):  # creation times differ between two runs
    drop = {t: cols.index("created") for t, cols in _schema_columns().items() if "created" in cols}
    return {
        t: [tuple(v for i, v in enumerate(r) if i != drop.get(t)) for r in rs]
        for t, rs in rows.items()
    }


def test_rollback_discards_iterations_and_a_rerun_equals_a_run_never_rolled_back(
    tmp_path, store_rows
):
    with Store(tmp_path / "a", create=True) as a, Store(tmp_path / "b", create=True) as b:
        parent = None
        for it in range(4):
            parent = _iteration(a, store_rows, it, parent)
        parent = None
        for it in range(3):
            parent = _iteration(b, store_rows, it, parent)
        b.rollback(1)  # iteration 2 was not committed
        assert b.games()[("main", "main_001")] == (1, 1, 2)
        assert [p.id for p in b.players(active_only=True)] == ["main_001"]
        parent = "main_001"
        for it in (2, 2, 3):  # iteration 2 re-run twice (killed once more), then 3
            if it == 2 and parent != "main_001":
                b.rollback(1)
                parent = "main_001"
            parent = _iteration(b, store_rows, it, parent)
        assert _strip(_rows(b)) == _strip(_rows(a))
        # training games are counted once per iteration however often it ran
        assert b.games() == {("main", f"main_{i:03d}"): (i, 1, 2) for i in range(4)}
        b.rollback(-1)
        assert all(not rows for t, rows in _rows(b).items() if t != "sqlite_sequence")
        assert (
            b.record_match(
                "k", iteration=0, players=[], seats=[], outcome="", returns=[], length=0, seed=0
            )
            == 1
        )


def _reader(run_dir, rounds, queue):
    bad = 0
    with Store(run_dir, readonly=True) as store:
        for _ in range(rounds):
            with store.transaction():
                matches = store.matches()
                count = store.get_meta("count", 0)
            # the writer bumps "count" in the same transaction as each match
            bad += len(matches) != count
    queue.put(bad)


def test_readers_see_consistent_snapshots_while_writing(tmp_path):
    store = Store(tmp_path, create=True)
    store.set_meta(count=0)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    readers = [ctx.Process(target=_reader, args=(tmp_path, 200, queue)) for _ in range(2)]
    for r in readers:
        r.start()
    for k in range(300):
        with store.transaction() as db:
            db.execute(
                "INSERT INTO matches (key, iteration, players, seats, outcome, returns, length, "
                "seed, created) VALUES (?, 0, '[]', '[]', '', '[]', 0, 0, 0)",
                (f"m{k}",),
            )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('count', ?)", (str(k + 1),))
    assert [queue.get(timeout=60) for _ in readers] == [0, 0]
    for r in readers:
        r.join()
    store.close()
