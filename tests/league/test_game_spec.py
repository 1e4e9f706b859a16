"""Roles and populations of the platform's games, the evaluation profiles they imply, and the
games a mode refuses at `league start` (checked without Ray)."""

import itertools
from math import comb

import pytest

from metagame.league.config import validate
from metagame.league.evaluation import profiles
from metagame.league.game_spec import game_spec
from metagame.league.runner import League
from metagame.league.store import Player


def test_seats_of_a_symmetric_game_are_tied_into_one_population():
    spec = game_spec("openspiel:kuhn_poker", {"players": 3})
    assert spec.roles == {f"player_{i}": (f"player_{i}",) for i in range(3)}
    assert spec.populations == {"player": ("player_0", "player_1", "player_2")}
    assert spec.symmetric and spec.seat_roles == ("player",) * 3


def test_declared_roles_get_populations_of_their_own():
    spec = game_spec("pursuit_evasion", {"num_pursuers": 2})
    assert spec.roles == {"pursuer": ("pursuer_0", "pursuer_1"), "evader": ("evader_0",)}
    assert spec.populations == {"pursuer": ("pursuer",), "evader": ("evader",)}
    assert not spec.symmetric and spec.competitive
    traffic = game_spec("traffic", {"scenario": "grid", "grid_size": 2, "control_signals": True})
    assert list(traffic.roles) == ["vehicle", "signal"] and len(traffic.roles["signal"]) == 4


def test_a_team_is_one_role_and_a_task_one_player():
    mapf = game_spec("mapf", {"num_agents": 6})
    assert mapf.roles == {"agent": tuple(f"player_{i}" for i in range(6))}
    assert not mapf.competitive and not mapf.single_agent
    cartpole = game_spec("gym:CartPole-v1", {})
    assert cartpole.single_agent and not cartpole.competitive


def test_separate_populations_per_seat_and_ties_that_cannot_hold():
    spec = game_spec("openspiel:kuhn_poker", {}, roles="separate")
    assert spec.populations == {"player_0": ("player_0",), "player_1": ("player_1",)}
    assert spec.seat_roles == ("player_0", "player_1") and not spec.symmetric
    with pytest.raises(ValueError, match="config key game.roles: traffic's roles"):
        game_spec("traffic", {"scenario": "grid", "control_signals": True}, roles="tied")


def _players(population, n, start=0):
    return [
        Player(f"{population}_{k}", start + k, "main", population, None, 0, 0, "", 0.0, "", None)
        for k in range(n)
    ]


@pytest.mark.parametrize("k", [2, 3, 4])
def test_symmetric_profiles_are_multisets_in_every_cyclic_seating(k):
    spec = game_spec("openspiel:kuhn_poker", {"players": 3})
    blocks = profiles(spec, _players("player", k))
    # multisets of size 3 with at least two distinct members, each in its 3 rotations
    assert len(blocks) == 3 * (comb(k + 2, 3) - k)
    assert len({tuple(p.id for p in b) for b in blocks}) == len(blocks)
    for combo in itertools.combinations_with_replacement(range(k), 3):
        seated = [b for b in blocks if sorted(p.seq for p in b) == list(combo)]
        assert len(seated) == (3 if len(set(combo)) > 1 else 0)


def test_two_population_profiles_are_the_product_of_the_roles():
    spec = game_spec("pursuit_evasion", {"num_pursuers": 2})
    players = _players("pursuer", 3) + _players("evader", 2, start=3)
    blocks = profiles(spec, players)
    assert len(blocks) == 6
    assert all(b[0].population == "pursuer" and b[1].population == "evader" for b in blocks)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"game": {"name": "pursuit_evasion"}, "mode": "alphastar"},
            "config key mode: alphastar serves competitive games whose roles share one population",
        ),
        (
            {
                "game": {"name": "openspiel:kuhn_poker", "kwargs": {"players": 3}},
                "evaluation": {"meta_solver": "nash"},
            },
            "config key evaluation.meta_solver: nash has no exact solver for the 3 roles",
        ),
        (
            {
                "game": {"name": "pursuit_evasion"},
                "mode": {"name": "psro", "meta_solver": "rectified"},
            },
            "config key mode.meta_solver: rectified Nash serves symmetric two-player games",
        ),
        (
            {"game": {"name": "openspiel:kuhn_poker"}, "learners": {"algo": "MAPPO"}},
            "config key learners.algo: MAPPO needs a global state: openspiel:kuhn_poker",
        ),
        (
            {"game": {"name": "pursuit_evasion"}, "mode": "xdo"},
            "config key mode: xdo serves competitive games whose roles share one population",
        ),
        (
            {"game": {"name": "soccer"}, "evaluation": {"answer": "restricted_game"}},
            "config key evaluation.answer: restricted_game needs a sequential OpenSpiel game",
        ),
        (
            {
                "game": {"name": "openspiel:kuhn_poker", "kwargs": {"players": 3}},
                "evaluation": {"answer": "restricted_game", "meta_solver": "prd"},
            },
            "config key evaluation.answer: restricted_game: kuhn_poker: sequence form needs a "
            "two-player zero-sum game",
        ),
    ],
)
def test_unsupported_leagues_are_refused_before_ray_starts(data, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        League(validate(data), tmp_path / "run").check()
    assert not (tmp_path / "run").exists()


def test_evaluation_matches_play_the_game_made_with_eval_kwargs(tmp_path):
    from metagame.envs.preference import cyclic_panel

    P = cyclic_panel(3).tolist()
    data = {"game": {"name": "preference", "kwargs": {"P": P}, "eval_kwargs": {"stochastic": True}}}
    league = League(validate(data), tmp_path / "run")
    league.check()
    assert league.spec.kwargs == {"P": P}
    assert league.eval_spec.kwargs == {"P": P, "stochastic": True}
    assert league.eval_spec.spaces == league.spec.spaces and league.eval_spec.spaces
    data["game"]["eval_kwargs"] = {"P": cyclic_panel(4).tolist()}  # a fourth candidate
    with pytest.raises(ValueError, match="config key game.eval_kwargs: .* other agents or spaces"):
        League(validate(data), tmp_path / "run").check()
    assert not (tmp_path / "run").exists()
