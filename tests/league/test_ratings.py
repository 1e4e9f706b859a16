"""Ratings: Elo and OpenSkill against direct computation, Nash averaging against nashpy."""

import nashpy
import numpy as np
import pytest
from openskill.models import PlackettLuce

from metagame.league import ratings
from metagame.league.store import Match


def _m(k, a, b, ra, rb):
    return Match(k, str(k), 0, [a, b], ["player_0", "player_1"], "", [ra, rb], 1, 0, None)


def test_elo_known_values():
    r = ratings.elo([_m(1, "a", "b", 1.0, -1.0)], ["a", "b"], k=16)
    np.testing.assert_allclose(r, [1208.0, 1192.0])
    r = ratings.elo([_m(1, "a", "b", 0.0, 0.0)], ["a", "b"])
    np.testing.assert_allclose(r, [1200.0, 1200.0])


def test_openskill_matches_the_package():
    matches = [_m(1, "a", "b", 1, -1), _m(2, "b", "c", 0, 0), _m(3, "c", "a", 2, -2)]
    mu, sigma = ratings.openskill(matches, ["a", "b", "c"])
    model = PlackettLuce()
    r = {k: model.rating(name=k) for k in "abc"}
    (r["a"],), (r["b"],) = model.rate([[r["a"]], [r["b"]]], ranks=[0, 1])
    (r["b"],), (r["c"],) = model.rate([[r["b"]], [r["c"]]], ranks=[0, 0])
    (r["c"],), (r["a"],) = model.rate([[r["c"]], [r["a"]]], ranks=[0, 1])
    np.testing.assert_allclose(mu, [r[k].mu for k in "abc"])
    np.testing.assert_allclose(sigma, [r[k].sigma for k in "abc"])


@pytest.mark.parametrize("seed", range(4))
def test_nash_averaging_is_a_nash_of_the_antisymmetric_game(seed):
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(5, 5))
    p, rating = ratings.nash_averaging(M)
    A = 0.5 * (M - M.T)
    assert np.isclose(p.sum(), 1.0) and np.all(p >= 0)
    assert (p @ A).min() >= -1e-6  # no column does better than 0 against p (the value is 0)
    np.testing.assert_allclose(rating, A @ p)
    # nashpy's Lemke-Howson finds the same (for a generic antisymmetric game, unique) Nash;
    # its support enumeration reports such games as degenerate (zero diagonal) since 0.0.43
    row, col = nashpy.Game(A).lemke_howson(initial_dropped_label=0)
    np.testing.assert_allclose(row, p, atol=1e-9)
    np.testing.assert_allclose(col, p, atol=1e-9)
    assert row @ A @ col == pytest.approx(0.0, abs=1e-9)


def test_one_player_standings_rank_by_return():
    matches = [
        Match(k, str(k), 0, [p], ["player_0"], "", [r], 1, 0, None)
        for k, (p, r) in enumerate([("a", 10.0), ("b", 30.0), ("a", 20.0)])
    ]
    s = ratings.standings(matches, ["a", "b"], np.zeros((2, 2)), np.zeros((2, 2)), num_seats=1)
    np.testing.assert_allclose(s.mu, [15.0, 30.0])
    np.testing.assert_allclose(s.nash, [0.0, 1.0])
