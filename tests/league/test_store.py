"""The SQLite store: idempotent match rows, players, histories, concurrent readers."""

import multiprocessing as mp

import numpy as np
import pytest

from metagame.league.store import Store, payoff_table


def _record(store, key, a, b, ra, rb):
    return store.record_match(
        key,
        iteration=0,
        players=[a, b],
        seats=["player_0", "player_1"],
        outcome="0",
        returns=[ra, rb],
        length=3,
        seed=1,
    )


def test_players_matches_and_payoff_table(tmp_path):
    with Store(tmp_path, create=True) as store:
        a = store.add_player("main", parent=None, step=0, iteration=0, checkpoint="a", reason="x")
        b = store.add_player("main", parent=a.id, step=9, iteration=1, checkpoint="b", reason="y")
        assert (a.id, b.id) == ("main_000", "main_001") and b.parent == a.id
        assert _record(store, "k1", a.id, b.id, 1.0, -1.0)
        assert not _record(store, "k1", a.id, b.id, 5.0, 5.0)  # same key: ignored
        assert _record(store, "k2", b.id, a.id, 2.0, -2.0)
        M, n = payoff_table(store.matches(), [a.id, b.id])
        np.testing.assert_allclose(M, [[0.0, -0.5], [0.5, 0.0]])
        np.testing.assert_array_equal(n, [[0, 2], [2, 0]])
        store.retire(a.id)
        assert [p.id for p in store.players(active_only=True)] == [b.id]
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
