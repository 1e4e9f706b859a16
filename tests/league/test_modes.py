"""League modes without Ray: whom each trainee meets and when it becomes a player."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metagame.league.config import validate
from metagame.league.game_spec import game_spec
from metagame.league.modes import (
    PSRO,
    AlphaStar,
    LeagueView,
    SelfPlay,
    mode_for,
    plateaued,
    score,
)
from metagame.league.store import Player

KUHN = game_spec("openspiel:kuhn_poker", {})
PURSUIT = game_spec("pursuit_evasion", {})


def _player(pid, population="player", kind="main", seq=0):
    return Player(pid, seq, kind, population, None, 0, 0, "", 0.0, "", None)


def _mode(spec, mode, **game):
    return mode_for(validate({"game": {"name": spec.name, **game}, "mode": mode}), spec)


def test_selfplay_has_one_trainee_per_population_meeting_every_population():
    mode = _mode(PURSUIT, {"name": "selfplay", "self_fraction": 0.25})
    assert isinstance(mode, SelfPlay)
    trainees = mode.trainees()
    assert [(t.module, t.population) for t in trainees] == [
        ("main_pursuer", "pursuer"),
        ("main_evader", "evader"),
    ]
    frozen = [_player("p0", "pursuer"), _player("e0", "evader", seq=1)]
    dists = mode.distributions(trainees, LeagueView({}, frozen, {}, {}))
    for t in trainees:
        assert set(dists[t.module]) == {"pursuer", "evader"}
        # a quarter on the population's live trainee, the rest PFSP over its snapshots
        assert dists[t.module]["evader"] == pytest.approx({"main_evader": 0.25, "e0": 0.75})
        assert dists[t.module]["pursuer"] == pytest.approx({"main_pursuer": 0.25, "p0": 0.75})
    assert [s.trainee.module for s in mode.snapshots(trainees, 2, None)] == [
        "main_pursuer",
        "main_evader",
    ]
    assert mode.snapshots(trainees, 1, None) == []  # snapshot_every defaults to 2


def test_psro_responds_to_the_meta_strategy_and_rectified_keeps_what_it_beats():
    mode = _mode(KUHN, {"name": "psro", "meta_solver": "rectified", "reset_response": True})
    assert isinstance(mode, PSRO) and mode.meta_solver == "nash"
    (response,) = mode.trainees()
    frozen = [_player(f"r{i}", seq=i) for i in range(3)]
    meta = {"r0": 0.5, "r1": 0.0, "r2": 0.5}
    games = {("response", "r0"): (9, 0, 1), ("response", "r2"): (1, 0, 9)}
    dists = mode.distributions([response], LeagueView(games, frozen, meta, {}))
    assert dists["response"]["player"] == pytest.approx({"r0": 1.0})  # r2 beats the response
    plain = _mode(KUHN, {"name": "psro"})
    dists = plain.distributions([response], LeagueView(games, frozen, meta, {}))
    assert dists["response"]["player"] == pytest.approx({"r0": 0.5, "r2": 0.5})
    # a player not yet in the meta-strategy: uniform over the population's players
    dists = plain.distributions([response], LeagueView({}, frozen, {"r0": 1.0}, {}))
    assert dists["response"]["player"] == pytest.approx({f"r{i}": 1 / 3 for i in range(3)})
    (snap,) = mode.snapshots([response], 2, None)
    assert snap.reset and snap.reason == "every 2 iterations"


def test_psro_stops_a_response_once_its_score_stops_rising():
    mode = _mode(KUHN, {"name": "psro", "iterations_per_response": 6, "response_patience": 2})
    (response,) = mode.trainees()
    records = [(48, 0, 52), (60, 0, 40), (66, 0, 34), (66, 1, 33)]  # scores .48 .60 .66 .665
    for k, record in enumerate(records, start=1):
        assert mode.snapshots([response], k, None) == []
        response.credit(100, [record])
    assert response.scores_since == [0.48, 0.6, 0.66, 0.665] and response.steps_since == 400
    assert mode.snapshots([response], 4, None) == []  # .665 >= .60 + .01: still rising
    response.credit(100, [(32, 1, 33), (33, 0, 34)])  # two opponents: 65.5 of 133 points
    (snap,) = mode.snapshots([response], 5, None)  # .66 and .49 stay below .66 + .01
    assert snap.reason == "score 0.665, no gain of 0.01 in 2 iterations"
    response.restart("r1")
    assert (response.parent, response.scores_since, response.record_since) == ("r1", [], [0, 0, 0])
    for k in range(6):  # a response that keeps improving stops at iterations_per_response
        assert mode.snapshots([response], k, None) == []
        response.credit(100, [(40 + 10 * k, 0, 60 - 10 * k)])
    (snap,) = mode.snapshots([response], 6, None)
    assert snap.reason == "6 iterations"


@given(
    st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), max_size=12),
    st.integers(1, 4),
    st.floats(0, 0.2),
)
def test_plateaued_is_no_recent_score_beating_the_earlier_best_by_the_gain(scores, patience, gain):
    earlier = [x for x in scores[:-patience] if x == x]  # drop NaN: no game, no evidence
    expected = (
        len(scores) > patience
        and bool(earlier)
        and all(not (x >= max(earlier) + gain) for x in scores[-patience:])
    )
    assert plateaued(scores, patience, gain) == expected


def test_score_is_the_share_of_points_won():
    assert score((3, 2, 5)) == 0.4
    assert np.isnan(score((0, 0, 0)))


def test_alphastar_exploiters_snapshot_on_win_rate_and_restart():
    mode = _mode(KUHN, {"name": "alphastar", "min_games": 10, "snapshot_win_rate": 0.7})
    assert isinstance(mode, AlphaStar)
    trainees = mode.trainees()
    assert [t.kind for t in trainees] == ["main", "main_exploiter", "league_exploiter"]
    main, exploiter, league = trainees
    exploiter.record_since = [8, 0, 2]  # 0.8 >= 0.7 over 10 games
    league.record_since = [3, 0, 7]
    main.record_since = [10, 0, 0]  # main agents snapshot by steps only
    snaps = mode.snapshots(trainees, 1, np.random.default_rng(0))
    assert [(s.trainee.kind, s.reset) for s in snaps] == [("main_exploiter", True)]
    assert snaps[0].reason == "win rate 0.80"
