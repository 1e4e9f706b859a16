"""Minimax-Q and independent Q-learning: kernels against their NumPy references, and learning."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metagame.agents import independent_q, minimax_q
from metagame.agents.q_learning import (
    MinimaxQTables,
    QTables,
    _setup,
    independent_q_kernel,
    independent_q_reference,
    minimax_q_kernel,
    minimax_q_reference,
    new_walk,
    q_learning,
)
from metagame.envs import make
from metagame.envs.markov import CATALOG, TabularMarkovGame, random_game
from metagame.solvers import markov_exploitability, solve_markov_game, solve_zero_sum


def _fresh(S, A, B):
    return MinimaxQTables.start(S, A, B)


def _chunked(kernel, game, schedule, draws, walk, tables, sizes):
    """Feeds the draws in chunks of the given sizes (the rest in one last chunk)."""
    start = 0
    for size in [*sizes, len(draws)]:
        if start < len(draws):
            kernel(game, schedule, draws[start : start + size], walk, tables)
            start += size
    return walk


@pytest.mark.parametrize("explore", [0.3, 1.0])
def test_kernels_match_numpy_references(explore):
    game = random_game(4, (2, 3), num_successors=2, seed=3)
    game_tab = game.tabular(sparse=True)
    terminal = game_tab.terminal.copy()
    terminal[3] = True  # exercise the episode restarts
    tab = dataclasses.replace(game_tab, terminal=terminal)
    arrays, schedule, _, draws = _setup(tab, 400, None, 1.0, 0.05, explore, 5)
    ours, ref = _fresh(4, 2, 3), _fresh(4, 2, 3)
    w1, w2 = new_walk(1.0), new_walk(1.0)
    minimax_q_kernel(arrays, schedule, draws, w1, ours)
    minimax_q_reference(arrays, schedule, draws, w2, ref)
    assert w1.position.tolist() == w2.position.tolist() and w1.position[1] > 1
    for x, y in zip(ours, ref):
        np.testing.assert_allclose(x, y, atol=1e-12)
    ours, ref = (
        QTables(np.zeros((4, 2)), np.zeros((4, 3))),
        QTables(np.zeros((4, 2)), np.zeros((4, 3))),
    )
    w1, w2 = new_walk(1.0), new_walk(1.0)
    independent_q_kernel(arrays, schedule, draws, w1, ours)
    independent_q_reference(arrays, schedule, draws, w2, ref)
    assert w1.position.tolist() == w2.position.tolist()
    for x, y in zip(ours, ref):
        np.testing.assert_allclose(x, y, atol=1e-12)


@given(sizes=st.lists(st.integers(1, 120), max_size=5))
@settings(max_examples=20, deadline=None)
def test_chunked_runs_equal_one_run(sizes):
    """What the progress bar relies on: the walk carries over exactly between chunks."""
    tab = random_game(5, (2, 2), num_successors=2, seed=1).tabular(sparse=True)
    arrays, schedule, _, draws = _setup(tab, 300, None, 1.0, 0.05, 0.5, 2)
    whole, parts = _fresh(5, 2, 2), _fresh(5, 2, 2)
    w1 = new_walk(1.0)
    minimax_q_kernel(arrays, schedule, draws, w1, whole)
    w2 = _chunked(minimax_q_kernel, arrays, schedule, draws, new_walk(1.0), parts, sizes)
    assert w1.position.tolist() == w2.position.tolist() and w1.alpha[0] == w2.alpha[0]
    for x, y in zip(whole, parts):
        np.testing.assert_array_equal(x, y)


def test_minimax_q_learns_a_repeated_matrix_game():
    """One state looping on itself: minimax-Q's policy approaches the matrix game's Nash."""
    A = CATALOG["biased_rps"].A / 50
    game = TabularMarkovGame(R=A[None], T=np.ones((1, 3, 3, 1)), gamma=0.5)
    res = minimax_q(game, steps=30_000, explore=1.0, final_alpha=0.001, seed=1)
    eq = solve_zero_sum(A)
    np.testing.assert_allclose(res.policies[0][0], eq.row, atol=0.03)
    np.testing.assert_allclose(res.policies[1][0], eq.col, atol=0.03)
    assert res.V[0][0] == pytest.approx(eq.value / (1 - 0.5), abs=0.02)
    assert res.V[1][0] == pytest.approx(-res.V[0][0], abs=0.02)


def test_seeds_reproduce_runs():
    game = random_game(5, (2, 2), seed=0)
    a, b = minimax_q(game, steps=2000, seed=4), minimax_q(game, steps=2000, seed=4)
    np.testing.assert_array_equal(a.Q[0], b.Q[0])
    c = minimax_q(game, steps=2000, seed=5)
    assert not np.array_equal(a.Q[0], c.Q[0])


@pytest.mark.slow
def test_minimax_q_beats_independent_q_on_soccer():
    """Littman (1994): with the same experience, minimax-Q's policy is far less exploitable by
    a best response than independent Q-learning's greedy one (measured exactly at kick-off)."""
    tab = make("soccer").tabular(sparse=True)
    shapley = solve_markov_game(tab.R, tab.T, 0.9, method="pollatschek_avi_itzhak")

    def exploitability(pi_1):
        lower = markov_exploitability(tab.R, tab.T, 0.9, pi_1, np.full((762, 5), 0.2)).lower
        return float(tab.initial @ (shapley.V - lower))

    uniform = exploitability(np.full((762, 5), 0.2))
    kw = dict(steps=600_000, explore=1.0, final_alpha=0.1, seed=0)
    mq, iq = minimax_q(tab, **kw), independent_q(tab, **kw)
    assert mq.episodes == iq.episodes  # the same experience: both behave uniformly at random
    mq_x, iq_x = exploitability(mq.policies[0]), exploitability(iq.policies[0])
    assert exploitability(shapley.pi_1) < 1e-6
    assert mq_x < 0.5 * uniform and mq_x < 0.5 * iq_x
    assert iq_x > 0.3


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="steps"):
        minimax_q(make("soccer"), steps=0)
    with pytest.raises(ValueError, match="two-player"):
        minimax_q(random_game(2, (2, 2, 2), zero_sum=False, seed=0))
    with pytest.raises(ValueError, match="zero-sum"):
        independent_q(make("matrix", game="prisoners_dilemma"), gamma=0.5)
    with pytest.raises(ValueError, match="explore"):
        independent_q(make("soccer"), explore=2.0)
    with pytest.raises(ValueError, match="tabular"):
        minimax_q(object())
    with pytest.raises(ValueError, match="algorithm: unknown 'sarsa'; known: minimax_q"):
        q_learning(make("soccer"), "sarsa")
