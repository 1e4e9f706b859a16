"""Our Markov games registered with pyspiel: loading, playing, and OpenSpiel's algorithms."""

import numpy as np
import pyspiel
import pytest
from open_spiel.python import policy as os_policy
from open_spiel.python.algorithms import expected_game_score, get_all_states

from metagame.envs import make
from metagame.envs.markov.spiel import register, spiel_game

NAMES = register()


@pytest.mark.parametrize(
    "name",
    [
        "metagame_matrix",
        "metagame_matrix(game=prisoners_dilemma,rounds=3)",
        "metagame_soccer",
        "metagame_pursuit_evasion(graph=cycle:5,num_pursuers=2)",
        "metagame_tabular(discount=0.9)",
    ],
)
def test_load_game_and_play(name):
    game = pyspiel.load_game(name)
    assert game.get_type().dynamics == pyspiel.GameType.Dynamics.SIMULTANEOUS
    rng = np.random.default_rng(0)
    for _ in range(3):
        state = game.new_initial_state()
        while not state.is_terminal():
            if state.is_chance_node():
                outcomes, probs = zip(*state.chance_outcomes())
                assert np.isclose(sum(probs), 1.0)
                state.apply_action(int(rng.choice(outcomes, p=probs)))
            else:
                state.apply_actions(
                    [int(rng.choice(state.legal_actions(p))) for p in range(game.num_players())]
                )
        if game.get_type().utility == pyspiel.GameType.Utility.ZERO_SUM:
            assert np.isclose(sum(state.returns()), 0.0)
    assert set(NAMES) <= set(pyspiel.registered_names())


def _reachable(tab):
    J = int(np.prod(tab.num_actions))
    seen, frontier = set(), list(np.flatnonzero(tab.initial))
    while frontier:
        s = int(frontier.pop())
        if s in seen:
            continue
        seen.add(s)
        if not tab.terminal[s]:
            frontier.extend(np.unique(tab.T[s * J : (s + 1) * J].indices))
    return seen


def test_openspiel_enumerates_the_same_states():
    """OpenSpiel's get_all_states finds exactly the states reachable in our tabular model."""
    game = pyspiel.load_game("metagame_pursuit_evasion(graph=path:4,horizon=1000)")
    states = get_all_states.get_all_states(
        game, -1, True, False, to_string=str, stop_if_encountered=True
    )
    tab = make("pursuit_evasion", graph="path:4").tabular(sparse=True)
    ours = {f"state {s} {tab.observations[s].tolist()}" for s in _reachable(tab)}
    assert {state.markov_state() for state in states.values()} == ours
    assert len(states) == len(ours)  # one string per state


def test_openspiel_policy_value_matches_backward_induction():
    """Uniform play's expected returns by OpenSpiel's expected_game_score equal a finite-horizon
    evaluation over our arrays."""
    H = 3
    env = make("pursuit_evasion", graph="path:3", pursuer_starts=[0], evader_start=2, horizon=H)
    game = spiel_game(env)
    value = expected_game_score.policy_value(
        game.new_initial_state(), os_policy.UniformRandomPolicy(game)
    )
    tab = env.tabular()
    S, A = tab.num_states, tab.num_actions[0]
    masks = [m.astype(float) for m in env.action_masks]
    pol = [m / m.sum(1, keepdims=True) for m in masks]
    V = np.zeros(S)
    for _ in range(H):
        Q = tab.R + tab.T @ V  # (S, A, A)
        V = np.einsum("sa,sab,sb->s", pol[0], Q, pol[1])
    assert value[0] == pytest.approx(tab.initial @ V, abs=1e-12)
    assert value[0] > 0 and value[1] == pytest.approx(-value[0])
    assert A == 3


def test_discount_as_termination():
    """With discount d the game stops after each step with probability 1 - d."""
    game = pyspiel.load_game("metagame_matrix(game=prisoners_dilemma,rounds=3,discount=0.5)")
    value = expected_game_score.policy_value(
        game.new_initial_state(), os_policy.UniformRandomPolicy(game)
    )
    mean = np.mean([[3, 0], [5, 1]])
    assert value[0] == pytest.approx(mean * (1 + 0.5 + 0.25))


def test_round_trip_through_the_openspiel_bridge():
    """metagame_soccer loaded back through make("openspiel:...") plays like our own env."""
    from pettingzoo.test import parallel_api_test

    env = make("openspiel:metagame_soccer")
    parallel_api_test(env, num_cycles=100)
    obs, _ = env.reset(seed=0)
    ours = make("soccer").tabular(sparse=True)
    observed = obs["player_0"]["observation"]
    assert ours.initial[ours.state_id(observed)] == 0.5  # a kick-off state
