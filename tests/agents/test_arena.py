"""play: outcomes against an exact reference, replays that re-simulate, seat assignment."""

import numpy as np
import pyspiel
import pytest

from metagame.agents.arena import assign, outcomes, play, role
from metagame.agents.policy import MixedStrategyPolicy, RandomPolicy
from metagame.envs.replay import Replay, verify


def uniform_random_outcome_probabilities(game_name: str) -> np.ndarray:
    """P(player 0 wins), P(player 1 wins), P(draw) under uniform random play, by enumeration."""
    game = pyspiel.load_game(game_name)
    memo: dict[str, np.ndarray] = {}

    def value(state) -> np.ndarray:
        key = str(state)  # the board: transpositions share their outcome distribution
        if key not in memo:
            if state.is_terminal():
                r = state.returns()
                memo[key] = np.array([r[0] > r[1], r[1] > r[0], r[0] == r[1]], dtype=float)
            else:
                memo[key] = np.mean([value(state.child(a)) for a in state.legal_actions()], 0)
        return memo[key]

    return value(game.new_initial_state())


def test_random_tic_tac_toe_matches_exact_outcome_probabilities():
    exact = uniform_random_outcome_probabilities("tic_tac_toe")
    n = 1500
    results = play("openspiel:tic_tac_toe", [RandomPolicy(), RandomPolicy()], episodes=n, seed=0)
    observed = np.array([results.win_rate(0), results.win_rate(1), results.draw_rate()])
    stderr = np.sqrt(exact * (1 - exact) / n)
    assert np.all(np.abs(observed - exact) < 4 * stderr), (observed, exact)
    assert np.all(results.returns.sum(axis=1) == 0)  # zero-sum
    assert np.all((results.lengths >= 5) & (results.lengths <= 9))


def test_same_seed_same_results_and_replays_reproduce():
    policies = [RandomPolicy(seed=1), RandomPolicy(seed=2)]
    a = play("openspiel:tic_tac_toe", policies, episodes=20, seed=5, record=True)
    b = play("openspiel:tic_tac_toe", policies, episodes=20, seed=5, record=True)
    np.testing.assert_array_equal(a.returns, b.returns)
    assert [r.actions for r in a.replays] == [r.actions for r in b.replays]
    # episode i is seeded seed + i: the episode alone reproduces it
    alone = play("openspiel:tic_tac_toe", policies, episodes=1, seed=5 + 7, record=True)
    assert alone.replays[0].actions == a.replays[7].actions
    for replay in a.replays:
        assert replay.kind == "aec" and replay.seed >= 5
        returns = verify(replay)
        assert [returns[x] for x in a.agents] == list(a.returns[replay.seed - 5])


def test_parallel_replay_saves_and_verifies(tmp_path):
    results = play("gym:CartPole-v1", [RandomPolicy(2)], episodes=3, seed=0, record=True)
    assert results.returns.shape == (3, 1)
    np.testing.assert_array_equal(results.returns[:, 0], results.lengths)  # reward 1 per step
    np.testing.assert_array_equal(results.outcomes, -1)
    path = results.replays[2].save(tmp_path / "r.replay.json.gz")
    replay = Replay.load(path)
    assert replay.kind == "parallel" and replay.length == results.lengths[2]
    assert verify(replay)["player_0"] == results.returns[2, 0]


def test_simultaneous_matrix_game_through_openspiel_parallel():
    # matching pennies: the row player's expected payoff against a fixed mix is exact
    results = play(
        "openspiel:matrix_mp",
        [MixedStrategyPolicy([1.0, 0.0]), MixedStrategyPolicy([0.25, 0.75])],
        episodes=1500,
        seed=0,
    )
    expected = 0.25 * 1 + 0.75 * -1
    assert abs(results.mean_returns()[0] - expected) < 4 * np.sqrt((1 - expected**2) / 1500)


def test_seat_assignment_by_list_role_and_dict():
    agents = ["pursuer_0", "pursuer_1", "evader_0"]
    p, e = RandomPolicy(id="p"), RandomPolicy(id="e")
    assert assign(agents, [p, e]) == {"pursuer_0": p, "pursuer_1": p, "evader_0": e}
    assert assign(agents, {"pursuer": p, "evader_0": e})["pursuer_1"] is p
    with pytest.raises(ValueError, match="3 agents"):
        assign(agents, [p, p, p, p])
    with pytest.raises(ValueError, match="no policy for agent 'evader_0'"):
        assign(agents, {"pursuer": p})
    with pytest.raises(ValueError, match="unknown"):
        assign(agents, {"pursuer": p, "evader": e, "cop": e})
    assert role("vehicle_12") == "vehicle" and role("player") == "player"


def test_outcomes_and_bad_arguments():
    np.testing.assert_array_equal(outcomes(np.array([[1, -1], [0, 0], [-1, 1]])), [0, -1, 1])
    with pytest.raises(ValueError, match="episodes"):
        play("openspiel:tic_tac_toe", [RandomPolicy(), RandomPolicy()], episodes=0)
    with pytest.raises(ValueError, match="act"):
        play("openspiel:tic_tac_toe", [RandomPolicy(), object()])
