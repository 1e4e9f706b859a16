"""OpenSpiel games through make(): PettingZoo API and seeding, exact returns, masks, errors."""

import numpy as np
import pyspiel
import pytest
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

from metagame.envs import make

TURN_BASED = ["kuhn_poker", "leduc_poker", "tic_tac_toe", "connect_four"]
SIMULTANEOUS = ["markov_soccer", "goofspiel(num_cards=4)", "matrix_rps"]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("game", TURN_BASED)
def test_turn_based_games_pass_pettingzoo_api_and_seed_tests(game):
    env = make(f"openspiel:{game}")
    assert isinstance(env, AECEnv)
    api_test(env, num_cycles=300)
    seed_test(lambda: make(f"openspiel:{game}"), num_cycles=300)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("game", SIMULTANEOUS)
def test_simultaneous_games_pass_pettingzoo_parallel_api_and_seed_tests(game):
    env = make(f"openspiel:{game}")
    assert isinstance(env, ParallelEnv)
    parallel_api_test(env, num_cycles=300)
    parallel_seed_test(lambda: make(f"openspiel:{game}"))


def _play_wrapped(env, seed):
    """One random game through the AEC wrapper; actions from a generator seeded per game."""
    rng = np.random.default_rng(10_000 + seed)
    env.reset(seed=seed)
    returns = dict.fromkeys(env.possible_agents, 0.0)
    for agent in env.agent_iter():
        obs, reward, terminated, truncated, _ = env.last()
        returns[agent] += reward
        if terminated or truncated:
            env.step(None)
            continue
        legal = np.flatnonzero(obs["action_mask"])
        env.step(int(rng.choice(legal)))
    return [returns[a] for a in env.possible_agents], env.game_state.returns()


def _play_direct(game, seed):
    """The same game straight through pyspiel, drawing chance and actions the same way."""
    chance_rng = np.random.default_rng(seed)
    rng = np.random.default_rng(10_000 + seed)
    state = game.new_initial_state()
    while not state.is_terminal():
        if state.is_chance_node():
            outcomes, probs = zip(*state.chance_outcomes(), strict=True)
            p = np.asarray(probs)
            state.apply_action(outcomes[chance_rng.choice(len(outcomes), p=p / p.sum())])
        else:
            state.apply_action(int(rng.choice(state.legal_actions())))
    return state.returns()


def test_kuhn_poker_returns_agree_with_pyspiel_over_1000_seeded_games():
    env = make("openspiel:kuhn_poker")
    game = pyspiel.load_game("kuhn_poker")
    wrapped, direct = [], []
    for seed in range(1000):
        rewards_sum, final_returns = _play_wrapped(env, seed)
        np.testing.assert_allclose(rewards_sum, final_returns)  # rewards add up to returns
        wrapped.append(rewards_sum)
        direct.append(_play_direct(game, seed))
    wrapped, direct = np.array(wrapped), np.array(direct)
    np.testing.assert_array_equal(wrapped, direct)  # the same seeds give the same games
    np.testing.assert_allclose(wrapped.mean(axis=0), direct.mean(axis=0))
    np.testing.assert_allclose(wrapped.sum(axis=1), 0.0)  # zero-sum
    assert len({tuple(r) for r in wrapped}) > 3  # chance and actions really vary


def test_chance_nodes_follow_the_env_seed():
    def deal(seed):
        env = make("openspiel:leduc_poker")
        env.reset(seed=seed)
        return env.game_state.history()

    assert deal(3) == deal(3)
    assert len({tuple(deal(s)) for s in range(20)}) > 5


def test_action_mask_matches_legal_actions_and_illegal_moves_raise():
    env = make("openspiel:tic_tac_toe")
    env.reset(seed=0)
    env.step(4)
    obs = env.observe(env.agent_selection)
    assert obs["action_mask"].dtype == np.int8
    assert list(np.flatnonzero(obs["action_mask"])) == env.game_state.legal_actions()
    assert obs["action_mask"][4] == 0
    assert (
        obs["observation"].shape == env.observation_space(env.agent_selection)["observation"].shape
    )
    with pytest.raises(ValueError, match="illegal action 4"):
        env.step(4)


@pytest.mark.parametrize(
    ("game", "observation", "source"),
    [
        ("leduc_poker", "auto", "information_state"),  # imperfect information: perfect recall
        ("leduc_poker", "observation", "observation"),
        ("kuhn_poker", "information_state", "information_state"),
        ("tic_tac_toe", "auto", "observation"),  # perfect information: the board
        ("tic_tac_toe", "information_state", "observation"),  # no information state: fallback
    ],
)
def test_observation_chooses_the_tensor(game, observation, source):
    env = make(f"openspiel:{game}", observation=observation)
    assert env.unwrapped.tensor_source == source
    env.reset(seed=1)
    state = env.unwrapped.game_state
    player = state.current_player()
    tensor = getattr(state, f"{source}_tensor")(player)
    np.testing.assert_array_equal(env.observe(env.agent_selection)["observation"].ravel(), tensor)
    assert env.observation_space(env.agent_selection)["observation"].shape[-1] == (
        len(tensor) if game != "tic_tac_toe" else 3
    )


def test_leduc_information_state_tells_betting_histories_apart():
    """Raise-call and call-raise-call both put 3 chips each in the pot before the public card:
    the observation tensor (cards and pot shares) merges the two, the information state not."""
    seen = {}
    for observation in ("observation", "information_state"):
        env = make("openspiel:leduc_poker", observation=observation).unwrapped
        tensors = []
        for bets in ([2, 1], [1, 2, 1]):
            state = env.game.new_initial_state()
            for action in [0, 2, *bets, 4]:  # deal the private cards, bet, deal the public card
                state.apply_action(action)
            tensors.append(env.observation_at(state, 0)["observation"])
        seen[observation] = tensors
    np.testing.assert_array_equal(*seen["observation"])
    assert not np.array_equal(*seen["information_state"])


def test_unknown_observation_choice_is_refused():
    with pytest.raises(ValueError, match="observation must be one of"):
        make("openspiel:kuhn_poker", observation="board")


def test_spaces_are_cached_objects():
    env = make("openspiel:leduc_poker")
    assert env.observation_space("player_0") is env.observation_space("player_0")
    assert env.action_space("player_1") is env.action_space("player_1")


def test_game_parameters_by_name_and_by_kwargs_agree():
    a = make("openspiel:goofspiel(num_cards=5)")
    b = make("openspiel:goofspiel", num_cards=5)
    assert a.action_space("player_0").n == b.action_space("player_0").n == 5


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("openspiel:kuhn_pokr", {}, "kuhn_poker"),
        ("openspiel:goofspiel", {"num_crds": 4}, "num_crds"),
        ("openspiel:goofspiel", {"num_cards": "four"}, "num_cards"),
        ("openspiel:mfg_crowd_modelling", {}, "mean-field"),
        ("openspiel:kuhn_poker", {"render_mode": "holo"}, "render_mode"),
    ],
)
def test_bad_openspiel_requests_raise_value_errors_naming_the_problem(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make(name, **kwargs)


def test_render_modes_give_text_and_pixels():
    env = make("openspiel:tic_tac_toe", render_mode="rgb_array")
    env.reset(seed=0)
    env.step(0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert (frame != frame[0, 0]).any()  # text was drawn
    text_env = make("openspiel:tic_tac_toe", render_mode="ansi")
    text_env.reset(seed=0)
    text_env.step(0)
    assert text_env.render().splitlines()[0] == "x.."


def test_metagame_games_registered_with_pyspiel_come_back_through_the_bridge():
    from metagame.envs import registry

    assert "openspiel:metagame_soccer" in registry()
    env = make("openspiel:metagame_soccer")
    assert isinstance(env, ParallelEnv) and env.possible_agents == ["player_0", "player_1"]
    parallel_api_test(env, num_cycles=50)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("blotto", {"fields": -1}, "'fields' must be >= 0"),  # crashed the process in pyspiel
        ("blotto", {"coins": -1}, "'coins' must be >= 0"),  # an AssertionError in pyspiel
        ("blotto", {"fields": 2**40}, "'fields' is out of range"),
        ("nfg_game", {}, "openspiel:nfg_game: pyspiel refused it"),
        ("crossword", {}, "neither observation nor information-state tensors"),
        ("chat_game", {}, "needs an LLM client"),
    ],
)
def test_game_parameters_pyspiel_cannot_take_are_a_value_error(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(f"openspiel:{name}", **kwargs)
    make("openspiel:goofspiel", num_turns=-1)  # -1 is that game's own default: still accepted
