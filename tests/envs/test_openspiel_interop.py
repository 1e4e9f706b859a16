"""OpenSpiel's own checks on our pyspiel games, and OpenSpiel's algorithms against ours.

Every registered ``metagame_*`` game, in several parameterisations, passes OpenSpiel's
``random_sim_test`` (with serialisation) directly and through both turn-based conversions;
``rl_environment`` sums of rewards equal ``returns()``; OpenSpiel's ``value_iteration`` (stage
games solved by its LP solver) gives the value of ``solve_markov_game`` where the docstring of
``metagame.envs.markov.spiel`` says it does.
"""

import subprocess
import sys

import numpy as np
import pyspiel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from open_spiel.python import rl_environment
from open_spiel.python.algorithms import get_all_states, value_iteration

from metagame.envs import make
from metagame.envs.markov.spiel import register, spiel_game
from metagame.envs.markov.tabular import TabularMarkovGame
from metagame.solvers import solve_markov_game

CONFIGS = {
    "metagame_matrix": [
        "metagame_matrix",
        "metagame_matrix(game=biased_rps,rounds=3,discount=0.7)",
        "metagame_matrix(game=prisoners_dilemma,rounds=4)",
        "metagame_matrix(game=matching_pennies,rounds=2,discount=0.5)",
    ],
    "metagame_soccer": [
        "metagame_soccer(horizon=30)",
        "metagame_soccer(discount=0.9)",
    ],
    "metagame_pursuit_evasion": [
        "metagame_pursuit_evasion",
        "metagame_pursuit_evasion(discount=0.9)",
        "metagame_pursuit_evasion(graph=cycle:5,num_pursuers=2,horizon=20)",
    ],
    "metagame_tabular": [
        "metagame_tabular()",
        "metagame_tabular(discount=0.8,num_states=4)",
        "metagame_tabular(num_actions=2,num_successors=1,seed=3,discount=0.95)",
    ],
}
ALL = [config for configs in CONFIGS.values() for config in configs]


def test_every_registered_game_is_checked():
    assert set(CONFIGS) == set(register())


@pytest.mark.parametrize("config", ALL)
def test_random_sim_test_directly_and_turn_based(config):
    game = pyspiel.load_game(config)
    pyspiel.random_sim_test(game, num_sims=5, serialize=True, verbose=False)
    pyspiel.random_sim_test(
        pyspiel.load_game_as_turn_based(config), num_sims=3, serialize=True, verbose=False
    )
    pyspiel.random_sim_test(
        pyspiel.convert_to_turn_based(game), num_sims=3, serialize=True, verbose=False
    )


@pytest.mark.parametrize("config", ALL)
def test_rl_environment_rewards_add_up_to_returns(config):
    game = pyspiel.load_game(config)
    env = rl_environment.Environment(game)
    env.seed(0)
    rng = np.random.default_rng(0)
    n = game.num_players()
    paid = 0.0
    for _ in range(5):
        step = env.reset()
        total = np.zeros(n)
        while not step.last():
            legal = step.observations["legal_actions"]
            step = env.step([int(rng.choice(legal[p])) for p in range(n)])
            total += step.rewards
        np.testing.assert_allclose(total, env.get_state.returns(), atol=1e-9)
        paid += np.abs(total).sum()
    if "soccer" not in config and "pursuit" not in config:
        assert paid > 0  # the check saw rewards (soccer and pursuit may end scoreless)


@settings(max_examples=15, deadline=None)
@given(
    num_states=st.integers(1, 5),
    num_actions=st.integers(1, 3),
    num_successors=st.integers(1, 3),
    discount=st.sampled_from([1.0, 0.9, 0.5]),
    horizon=st.integers(1, 12),
    seed=st.integers(0, 1000),
)
def test_random_games_pass_openspiel_checks(**params):
    """Any random game, any discount and horizon: OpenSpiel's random_sim_test passes and the
    rewards of every path add up to its returns."""
    game = pyspiel.load_game("metagame_tabular", params)
    pyspiel.random_sim_test(game, num_sims=3, serialize=True, verbose=False)
    rng = np.random.default_rng(params["seed"])
    state, total = game.new_initial_state(), np.zeros(2)
    while not state.is_terminal():
        if state.is_chance_node():
            outcomes, probs = zip(*state.chance_outcomes())
            state.apply_action(int(rng.choice(outcomes, p=probs)))
        else:
            total += state.rewards()
            state.apply_actions([int(rng.choice(state.legal_actions(p))) for p in range(2)])
    np.testing.assert_allclose(total + state.rewards(), state.returns(), atol=1e-12)
    assert game.max_game_length() == params["horizon"]


def test_reward_of_a_step_survives_the_chance_node():
    """The issue's repro: the reward of the step is visible after the successor is drawn."""
    game = pyspiel.load_game("metagame_tabular()")
    state = game.new_initial_state()
    state.apply_actions([0, 0])
    assert state.is_chance_node()
    state.apply_action(state.chance_outcomes()[0][0])
    R = game.tab.R[0, 0, 0]
    assert R != 0
    np.testing.assert_allclose(state.rewards(), [R, -R])
    state.apply_actions([0, 0])  # the players' move consumes them
    np.testing.assert_allclose(state.rewards(), [0.0, 0.0])


def test_discount_node_keeps_the_step_reward():
    """With discount < 1 the step's reward is paid whether the game stops or continues."""
    game = pyspiel.load_game("metagame_matrix(game=prisoners_dilemma,rounds=3,discount=0.5)")
    state = game.new_initial_state()
    state.apply_actions([1, 0])  # defect against cooperate: (5, 0)
    assert state.chance_outcomes() == [(0, 0.5), (1, 0.5)]
    stopped, going = state.child(1), state.child(0)
    assert stopped.is_terminal() and not going.is_terminal()
    for after in (stopped, going):
        np.testing.assert_array_equal(after.rewards(), [5.0, 0.0])
    np.testing.assert_array_equal(stopped.returns(), [5.0, 0.0])


def test_soccer_pays_the_goal_that_happened():
    """In Littman's soccer every episode ends +-1 or 0; a step where one move order scores pays
    1 or 0 (never the expectation 0.5), and the expectation over orders is R."""
    game = pyspiel.load_game("metagame_soccer(horizon=40)")
    rng = np.random.default_rng(1)
    finals = set()
    for _ in range(300):
        state = game.new_initial_state()
        while not state.is_terminal():
            if state.is_chance_node():
                outcomes, probs = zip(*state.chance_outcomes())
                state.apply_action(int(rng.choice(outcomes, p=probs)))
            else:
                state.apply_actions([int(rng.integers(5)), int(rng.integers(5))])
        finals.add(tuple(state.returns()))
    assert finals <= {(1.0, -1.0), (0.0, 0.0), (-1.0, 1.0)}
    assert {(1.0, -1.0), (-1.0, 1.0)} <= finals

    env = make("soccer")
    tab = env.tabular()
    s, a, b = np.argwhere(tab.R == 0.5)[0]
    succ, probs, rewards = env.outcomes(int(s), (int(a), int(b)))
    np.testing.assert_allclose(probs, [0.5, 0.5])
    assert sorted(rewards[0].tolist()) == [0.0, 1.0]
    np.testing.assert_allclose(rewards @ probs, tab.rewards[:, s, a, b])


def test_soccer_env_rewards_are_realised():
    env = make("soccer", horizon=60)
    seen = set()
    for episode in range(40):
        env.reset(seed=episode)
        while env.agents:
            _, rewards, *_ = env.step({a: env.action_space(a).sample() for a in env.agents})
            seen.add(rewards["player_0"])
    assert seen <= {-1.0, 0.0, 1.0} and len(seen) > 1


def _value_iteration_against_ours(game, cyclic: bool):
    """OpenSpiel's value at every node it enumerates, against returns so far + our V(s)."""
    values = value_iteration.value_iteration(game, -1, 1e-10, cyclic_game=cyclic)
    states = get_all_states.get_all_states(
        game, -1, True, False, to_string=str, stop_if_encountered=cyclic
    )
    tab = game.tab
    ours = solve_markov_game(tab.R, tab.T, gamma=game.discount, tol=1e-12)
    assert set(values) == set(states)
    for key, state in states.items():
        expected = state.returns()[0] + (0.0 if state.is_terminal() else ours.V[state.state_id])
        assert values[key] == pytest.approx(expected, abs=1e-6), key
    return ours


@pytest.mark.parametrize(
    "config",
    [
        "metagame_pursuit_evasion(graph=path:4,horizon=1000,discount=0.9)",
        "metagame_pursuit_evasion(graph=star:4,horizon=1000,discount=0.8)",
    ],
)
def test_value_iteration_agrees_on_games_that_pay_at_the_end(config):
    game = pyspiel.load_game(config)
    ours = _value_iteration_against_ours(game, cyclic=True)
    assert ours.V.max() > 0.5  # the pursuer catches the evader on these graphs


@pytest.mark.parametrize(
    "config, value",
    [
        ("metagame_matrix(game=matching_pennies,rounds=3)", 0.0),
        ("metagame_matrix(game=biased_rps)", 0.0),
        ("metagame_matrix(game=rps,rounds=2,discount=0.5)", 0.0),
    ],
)
def test_value_iteration_agrees_on_games_without_cycles(config, value):
    game = pyspiel.load_game(config)
    _value_iteration_against_ours(game, cyclic="rounds" not in config)
    root = game.new_initial_state()
    ours = value_iteration.value_iteration(game, -1, 1e-10, cyclic_game=False)
    assert ours[str(root)] == pytest.approx(value, abs=1e-6)


def test_value_iteration_on_a_tabular_game_that_pays_at_the_end():
    """A random game in which some joint actions end the game with a random payoff to player
    0 and the others move on at random, paying nothing."""
    rng = np.random.default_rng(4)
    S, A = 5, 3
    ends = rng.random((S, A, A)) < 0.6
    T = np.zeros((S + 1, A, A, S + 1))
    T[:S, :, :, :S] = rng.dirichlet(np.ones(S) * 0.5, size=(S, A, A))
    T[:S][ends] = np.eye(S + 1)[S]
    T[S] = np.eye(S + 1)[S]
    R = np.zeros((S + 1, A, A))
    R[:S][ends] = rng.uniform(0, 1, ends.sum())  # player 0 wants to end, player 1 does not
    env = TabularMarkovGame(R=R, T=T, terminal=np.arange(S + 1) == S, gamma=0.6, horizon=None)
    game = spiel_game(env, discount=0.6)
    assert not game.pays_along_the_way
    ours = _value_iteration_against_ours(game, cyclic=True)
    assert ours.V[:S].min() > 0.1  # not the trivial game


def test_our_games_are_registered_on_import():
    """A process that imported metagame.envs (and made a game by its own name) loads ours from
    pyspiel; the import loads pyspiel but neither SciPy nor networkx."""
    code = (
        "import sys, metagame.envs as envs, pyspiel\n"
        "print(sorted(m for m in ('scipy', 'networkx', 'gymnasium') if m in sys.modules))\n"
        "envs.make('soccer')\n"
        "print(pyspiel.load_game('metagame_soccer').num_players())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:2] == ["[]", "2"]


def test_python_games_by_name():
    """OpenSpiel's Python games are reachable, including one with an observer but no tensor."""
    from pettingzoo.test import api_test, parallel_api_test

    env = make("openspiel:python_iterated_prisoners_dilemma", history_window=2)
    parallel_api_test(env, num_cycles=30)
    space = env.observation_space("player_0")["observation"]
    assert space.shape == (2 * (1 + 2 + 2),)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs["player_0"]["observation"], 0.0)
    obs, rewards, *_ = env.step({"player_0": 0, "player_1": 1})  # cooperate, defect
    assert (rewards["player_0"], rewards["player_1"]) == (0.0, 10.0)
    last = obs["player_1"]["observation"].reshape(2, 5)
    if not env.agents:  # the game stopped after the first round: no chance move was recorded
        pytest.fail("seed 0 was expected to continue past the first round")
    np.testing.assert_array_equal(last[0], [0, 0, 1, 0, 1])  # player 1 defected
    np.testing.assert_array_equal(last[1], [1, 0, 0, 1, 0])  # chance: continue
    api_test(make("openspiel:python_kuhn_poker"), num_cycles=20)
    api_test(make("openspiel:python_tic_tac_toe"), num_cycles=20)


class HiddenCardGame(pyspiel.Game):
    """Chance deals player 0 a private card; player 0 bets on it; player 1 never sees it. An
    imperfect-information game with no tensors at all."""

    TYPE = pyspiel.GameType(
        short_name="metagame_test_hidden_card",
        long_name="hidden card (test)",
        dynamics=pyspiel.GameType.Dynamics.SEQUENTIAL,
        chance_mode=pyspiel.GameType.ChanceMode.EXPLICIT_STOCHASTIC,
        information=pyspiel.GameType.Information.IMPERFECT_INFORMATION,
        utility=pyspiel.GameType.Utility.ZERO_SUM,
        reward_model=pyspiel.GameType.RewardModel.TERMINAL,
        max_num_players=2,
        min_num_players=2,
        provides_information_state_string=False,
        provides_information_state_tensor=False,
        provides_observation_string=False,
        provides_observation_tensor=False,
        parameter_specification={},
    )

    def __init__(self, params=None):
        info = pyspiel.GameInfo(
            num_distinct_actions=2,
            max_chance_outcomes=2,
            num_players=2,
            min_utility=-1.0,
            max_utility=1.0,
            utility_sum=0.0,
            max_game_length=1,
        )
        super().__init__(self.TYPE, info, params or {})

    def new_initial_state(self):
        return HiddenCardState(self)


class HiddenCardState(pyspiel.State):
    def __init__(self, game):
        super().__init__(game)
        self.card = self.bet = None

    def current_player(self):
        if self.card is None:
            return pyspiel.PlayerId.CHANCE
        return pyspiel.PlayerId.TERMINAL if self.bet is not None else 0

    def _legal_actions(self, player):
        return [0, 1]

    def chance_outcomes(self):
        return [(0, 0.5), (1, 0.5)]

    def _apply_action(self, action):
        if self.card is None:
            self.card = action
        else:
            self.bet = action

    def is_terminal(self):
        return self.bet is not None

    def _action_to_string(self, player, action):
        return f"p{player}:{action}"

    def returns(self):
        if self.bet is None:
            return [0.0, 0.0]
        win = 1.0 if self.bet == self.card else -1.0
        return [win, -win]

    def __str__(self):
        return f"card {self.card} bet {self.bet}"


def test_a_game_hiding_information_without_tensors_is_refused():
    """Observing its history would show player 1 the private card."""
    if HiddenCardGame.TYPE.short_name not in pyspiel.registered_names():
        pyspiel.register_game(HiddenCardGame.TYPE, HiddenCardGame)
    pyspiel.random_sim_test(pyspiel.load_game("metagame_test_hidden_card"), 2, False, False)
    with pytest.raises(ValueError, match="history would reveal hidden information"):
        make("openspiel:metagame_test_hidden_card")


def test_history_window_must_be_positive():
    with pytest.raises(ValueError, match="history_window must be a positive integer"):
        make("openspiel:python_iterated_prisoners_dilemma", history_window=0)
