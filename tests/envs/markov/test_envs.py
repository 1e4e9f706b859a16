"""Markov game envs: PettingZoo API and seeding, tabular export, dynamics, rendering, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pettingzoo.test import parallel_api_test, parallel_seed_test

from metagame.envs import make
from metagame.envs.markov import CATALOG, TabularMarkovGame, matrix_game, random_game
from metagame.envs.markov.render import (
    graph_positions,
    matrix_cell_rect,
    soccer_ball_center,
    soccer_cell_center,
)
from metagame.envs.markov.soccer import state_index, swap_players
from metagame.envs.rendering import agent_colors

FACTORIES = {
    "matrix": lambda: make("matrix", game="biased_rps"),
    "matrix_repeated": lambda: make("matrix", game="prisoners_dilemma", rounds=4),
    "soccer": lambda: make("soccer", horizon=60),
    "pursuit": lambda: make("pursuit_evasion", graph="cycle:5", num_pursuers=2),
    "tabular": lambda: make("tabular", R=np.ones((2, 2, 2)), T=np.full((2, 2, 2, 2), 0.5)),
}


@pytest.mark.parametrize("name", FACTORIES)
def test_pettingzoo_api_and_seed(name):
    parallel_api_test(FACTORIES[name](), num_cycles=200)
    parallel_seed_test(FACTORIES[name], num_cycles=200)


@pytest.mark.parametrize("name", FACTORIES)
def test_tabular_export_is_consistent(name):
    env = FACTORIES[name]()
    tab = env.tabular(sparse=True)
    S, J = tab.num_states, int(np.prod(tab.num_actions))
    assert tab.T.shape == (S * J, S)
    np.testing.assert_allclose(tab.T.sum(axis=1), 1.0)
    assert np.isclose(tab.initial.sum(), 1.0) and tab.terminal.shape == (S,)
    for s in np.flatnonzero(tab.terminal):  # absorbing and rewardless
        assert np.all(tab.T[s * J : (s + 1) * J, [s]].toarray() == 1.0)
        assert np.all(tab.rewards[:, s] == 0)
    assert len(np.unique(tab.observations, axis=0)) == S
    for s in np.linspace(0, S - 1, 7).astype(int):
        assert tab.state_id(tab.observations[s]) == s
    np.testing.assert_array_equal(tab.R, tab.rewards[0])
    again = TabularMarkovGame.from_tabular(tab).tabular(sparse=True)
    assert (again.T != tab.T).nnz == 0
    np.testing.assert_array_equal(again.rewards, tab.rewards)
    if S < 100:
        dense = env.tabular()
        assert dense.T.shape == (S, *tab.num_actions, S)
        np.testing.assert_array_equal(dense.T.reshape(S * J, S), tab.T.toarray())


@pytest.mark.parametrize("name", ["soccer", "pursuit", "matrix_repeated"])
def test_steps_follow_the_tabular_model(name):
    """Every step's successor has positive probability in T and its reward is the one that
    successor realises (in soccer it depends on the move order), whose expectation is R[s, a]."""
    env = FACTORIES[name]()
    tab = env.tabular()
    rng = np.random.default_rng(0)
    for episode in range(5):
        obs, infos = env.reset(seed=episode)
        while env.agents:
            s = env.state_id
            assert tab.state_id(env.state()) == s
            acts = {}
            for i, a in enumerate(env.agents):
                mask = obs[a]["action_mask"] if isinstance(obs[a], dict) else None
                legal = np.flatnonzero(mask) if mask is not None else np.arange(tab.num_actions[i])
                acts[a] = int(rng.choice(legal))
            joint = tuple(acts[a] for a in env.possible_agents)
            obs, rew, term, trunc, infos = env.step(acts)
            nxt = infos[env.possible_agents[0]]["state"]
            assert tab.T[(s, *joint, nxt)] > 0
            succ, probs, realised = env.outcomes(s, joint)
            np.testing.assert_allclose(realised @ probs, tab.rewards[(slice(None), s, *joint)])
            for i, a in enumerate(env.possible_agents):
                assert rew[a] == realised[i, list(succ).index(nxt)]


def test_matrix_catalog_matches_openspiel():
    import pyspiel

    names = {
        "rps": "matrix_rps",
        "biased_rps": "matrix_brps",
        "matching_pennies": "matrix_mp",
        "stag_hunt": "matrix_sh",
        "chicken": "matrix_cd",
        "battle_of_the_sexes": "matrix_bos",
        "shapley": "matrix_shapleys_game",
    }
    for ours, theirs in names.items():
        game = pyspiel.load_game(theirs)
        np.testing.assert_array_equal(CATALOG[ours].A, game.row_utilities())
        np.testing.assert_array_equal(CATALOG[ours].B, game.col_utilities())
    A, B = CATALOG["prisoners_dilemma"].A, CATALOG["prisoners_dilemma"].B
    assert (A[1] > A[0]).all() and (B[:, 1] > B[:, 0]).all()  # defection dominates
    assert A[0, 0] > A[1, 1]  # ... though mutual cooperation pays more


def test_repeated_matrix_game_observes_the_last_joint_action():
    env = matrix_game(CATALOG["prisoners_dilemma"].A, CATALOG["prisoners_dilemma"].B, rounds=3)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs["player_0"], [0, -1, -1])
    obs, rew, term, trunc, _ = env.step({"player_0": 0, "player_1": 1})
    np.testing.assert_array_equal(obs["player_1"], [1, 0, 1])
    assert rew == {"player_0": 0.0, "player_1": 5.0} and not any(term.values())
    env.step({"player_0": 1, "player_1": 1})
    _, rew, term, _, _ = env.step({"player_0": 1, "player_1": 0})
    assert rew == {"player_0": 5.0, "player_1": 0.0} and all(term.values()) and not env.agents


def test_soccer_rules():
    env = make("soccer")
    tab = env.tabular()
    assert tab.num_states == 762 and tab.num_actions == (5, 5)
    N, S, E, W, STAND = range(5)
    s = state_index((1, 0), (3, 4), 0)  # A holds the ball next to its (left) goal
    assert tab.R[s, W, STAND] == 1.0 and tab.T[s, W, STAND, 760] == 1.0
    s = state_index((1, 4), (3, 0), 0)  # A carries the ball into its own goal: B scores
    assert tab.R[s, E, STAND] == -1.0 and tab.T[s, E, STAND, 761] == 1.0
    s = state_index((1, 1), (1, 2), 0)  # A runs into B: blocked, the ball goes to B
    assert tab.T[s, E, STAND, state_index((1, 1), (1, 2), 1)] == 1.0
    # both move towards the same empty square: whoever moves first gets it
    s = state_index((1, 1), (1, 3), 1)
    t = tab.T[s, E, W]
    assert t[state_index((1, 2), (1, 3), 0)] == 0.5  # A first; B bumps into A, loses the ball
    assert t[state_index((1, 1), (1, 2), 1)] == 0.5  # B first; A bumps into B, B keeps it
    assert np.count_nonzero(tab.initial) == 2


def test_soccer_symmetry_under_player_swap():
    """R[s, a, b] = -R[s~, b~, a~] and T[s, a, b, s'] = T[s~, b~, a~, s'~], where ~ swaps the
    players and rotates the board (and so mirrors the moves)."""
    tab = make("soccer").tabular(sparse=True)
    perm = np.array([swap_players(s) for s in range(762)])
    assert sorted(perm) == list(range(762))
    mirror = np.array([1, 0, 3, 2, 4])  # N<->S, E<->W
    swapped_R = -tab.R[perm][:, mirror][:, :, mirror].transpose(0, 2, 1)
    np.testing.assert_array_equal(swapped_R, tab.R)
    s, a, b = np.unravel_index(np.arange(762 * 25), (762, 5, 5))
    rows = perm[s] * 25 + mirror[b] * 5 + mirror[a]
    swapped_T = tab.T[rows][:, perm]
    assert (swapped_T != tab.T).nnz == 0


def test_pursuit_capture_and_masks():
    env = make("pursuit_evasion", graph="path:3", pursuer_starts=[0], evader_start=2)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs["pursuer_0"]["action_mask"], [1, 1, 0])
    np.testing.assert_array_equal(obs["evader_0"]["observation"], [0, 2])
    with pytest.raises(ValueError, match="illegal"):
        env.step({"pursuer_0": 2, "evader_0": 0})
    obs, rew, term, _, _ = env.step({"pursuer_0": 1, "evader_0": 1})  # both onto node 1
    assert rew == {"pursuer_0": 1.0, "evader_0": -1.0} and all(term.values())
    tab = env.tabular()
    s = tab.state_id([0, 1])
    assert tab.R[s, 1, 1] == 1.0  # crossing the same edge in opposite directions captures


@settings(max_examples=12)
@given(st.integers(1, 3), st.integers(1, 2), st.integers(0, 10_000))
def test_random_games_are_valid_envs(num_successors, players_minus_one, seed):
    shape = (2,) * (players_minus_one + 1)
    game = random_game(4, shape, num_successors, zero_sum=len(shape) == 2, seed=seed)
    tab = game.tabular()
    np.testing.assert_allclose(tab.T.sum(-1), 1.0)
    assert tab.zero_sum == (len(shape) == 2)


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="unknown matrix game"):
        make("matrix", game="poker")
    with pytest.raises(ValueError, match="B must have A's shape"):
        matrix_game(np.eye(2), np.eye(3))
    with pytest.raises(ValueError, match="not both"):
        make("matrix", game="rps", A=np.eye(2), B=np.eye(2))
    with pytest.raises(ValueError, match="rounds"):
        make("matrix", rounds=0)
    with pytest.raises(ValueError, match="sums to"):
        TabularMarkovGame(R=np.zeros((2, 2, 2)), T=np.full((2, 2, 2, 2), 0.4))
    with pytest.raises(ValueError, match="NaN"):
        TabularMarkovGame(R=np.full((1, 1, 1), np.nan), T=np.ones((1, 1, 1, 1)))
    with pytest.raises(ValueError, match="connected"):
        make("pursuit_evasion", graph=[(0, 1), (2, 3)])
    with pytest.raises(ValueError, match="graph spec"):
        make("pursuit_evasion", graph="torus:3")
    with pytest.raises(ValueError, match="evader cannot start"):
        make("pursuit_evasion", graph="path:3", pursuer_starts=[1], evader_start=1)
    env = make("soccer")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="not in 0..4"):
        env.step({"player_0": 7, "player_1": 0})
    with pytest.raises(ValueError, match="no action"):
        env.step({"player_0": 0})


# -- rendering ------------------------------------------------------------------------------


def _color_at(frame, xy):
    return tuple(int(v) for v in frame[xy[1], xy[0]])


def test_soccer_frame_shows_players_and_ball_where_the_state_says():
    env = make("soccer", render_mode="rgb_array")
    env.reset(seed=0)
    env.step({"player_0": 2, "player_1": 4})  # A: E ... unless blocked; read the state back
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.std() > 0
    ra, ca, rb, cb, holder = env.state().astype(int)
    colors = [tuple(int(v) for v in c) for c in agent_colors(2)]
    assert _color_at(frame, soccer_cell_center(ra, ca)) == colors[0]
    assert _color_at(frame, soccer_cell_center(rb, cb)) == colors[1]
    holder_square = (ra, ca) if holder == 0 else (rb, cb)
    assert _color_at(frame, soccer_ball_center(*holder_square)) == (255, 255, 255)
    assert colors[0] not in {
        _color_at(frame, soccer_cell_center(r, c))
        for r in range(4)
        for c in range(5)
        if (r, c) != (ra, ca)
    }


def test_pursuit_frame_shows_agents_on_their_nodes():
    env = make(
        "pursuit_evasion",
        graph="grid:3x3",
        pursuer_starts=[0],
        evader_start=8,
        render_mode="rgb_array",
    )
    env.reset(seed=0)
    frame = env.render()
    xy = graph_positions(env.graph, env.nodes)
    colors = [tuple(int(v) for v in c) for c in agent_colors(2)]
    assert _color_at(frame, xy[0]) == colors[0] and _color_at(frame, xy[8]) == colors[1]
    assert _color_at(frame, xy[4]) not in colors


def test_matrix_frame_highlights_the_last_joint_action():
    env = make("matrix", game="rps", render_mode="rgb_array")
    env.reset(seed=0)
    before = env.render()
    env.step({"player_0": 2, "player_1": 1})
    frame = env.render()
    colors = [tuple(int(v) for v in c) for c in agent_colors(2)]
    rect = matrix_cell_rect(2, 1)
    assert _color_at(frame, (rect.x + 12, rect.y + 12)) == colors[0]
    assert _color_at(frame, (rect.right - 12, rect.y + 12)) == colors[1]
    assert _color_at(before, (rect.x + 12, rect.y + 12)) != colors[0]
    # heatmap: the row player's best payoff (1) is darker than its worst (-1)
    win, loss = matrix_cell_rect(2, 1), matrix_cell_rect(1, 2)
    assert (
        _color_at(frame, (win.centerx, win.y + 60))[0]
        < _color_at(frame, (loss.centerx, loss.y + 60))[0]
    )
