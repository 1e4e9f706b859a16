"""League modes without Ray: whom each trainee meets and when it becomes a player."""

import numpy as np
import pytest

from metagame.league.config import validate
from metagame.league.game_spec import game_spec
from metagame.league.modes import PSRO, AlphaStar, LeagueView, SelfPlay, mode_for
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
