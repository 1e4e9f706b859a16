"""Ratings: Elo and OpenSkill against direct computation, Nash averaging against an LP."""

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


def test_elo_scores_a_soft_judges_preference_as_itself():
    """A judge preferring a's answer with probability 0.6 moves Elo by k (0.6 - 1/2), not by
    k (1 - 1/2) as a win would; outside preference games a match is still a win or a loss."""
    soft = [_m(1, "a", "b", 0.2, -0.2)]  # returns (2P - 1, 1 - 2P) with P = 0.6
    scores = ratings.match_scores("llm_duel")
    np.testing.assert_allclose(ratings.elo(soft, ["a", "b"], k=16, scores=scores), [1201.6, 1198.4])
    plain = ratings.match_scores("openspiel:kuhn_poker")
    np.testing.assert_allclose(ratings.elo(soft, ["a", "b"], k=16, scores=plain), [1208.0, 1192.0])
    assert ratings.preference_scores((1.0, -1.0)) == ratings.outcome_scores((1.0, -1.0))


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


def test_one_player_standings_rank_by_return():
    from metagame.league.empirical_game import empirical_game, solve_meta_game

    matches = [
        Match(k, str(k), 0, [p], ["player_0"], "", [r], 1, 0, None)
        for k, (p, r) in enumerate([("a", 10.0), ("b", 30.0), ("a", 20.0)])
    ]
    game = empirical_game(matches, ["player"], {"player": ["a", "b"]})
    nash = solve_meta_game(game).strategies["player"]
    s = ratings.standings(
        matches, ["a", "b"], nash=nash, nash_rating=nash, alpharank=nash, one_player=True
    )
    np.testing.assert_allclose(s.mu, [15.0, 30.0])
    np.testing.assert_allclose(s.nash, [0.0, 1.0])
    np.testing.assert_array_equal(s.games, [2, 1])


def _m3(k, players, returns):
    return Match(k, str(k), 0, players, ["p0", "p1", "p2"], "", returns, 1, 0, None)


def test_three_seat_openskill_is_one_plackett_luce_update_per_match():
    matches = [_m3(1, ["a", "b", "c"], [1, 0, -1]), _m3(2, ["c", "a", "b"], [2, 2, -4])]
    mu, sigma = ratings.openskill(matches, ["a", "b", "c"])
    model = PlackettLuce()
    r = {k: model.rating(name=k) for k in "abc"}
    (r["a"],), (r["b"],), (r["c"],) = model.rate([[r["a"]], [r["b"]], [r["c"]]], ranks=[0, 1, 2])
    (r["c"],), (r["a"],), (r["b"],) = model.rate([[r["c"]], [r["a"]], [r["b"]]], ranks=[0, 0, 1])
    np.testing.assert_allclose(mu, [r[k].mu for k in "abc"])
    np.testing.assert_allclose(sigma, [r[k].sigma for k in "abc"])


def test_three_seat_elo_counts_every_pair_of_seats_at_once():
    r = ratings.elo([_m3(1, ["a", "b", "c"], [1, 0, -1])], ["a", "b", "c"], k=16)
    # from equal ratings each pair's expected score is 1/2: a wins two pairs, c loses two
    np.testing.assert_allclose(r, [1216.0, 1200.0, 1184.0])
    assert r.sum() == pytest.approx(3 * ratings.ELO_START)  # Elo is zero-sum
