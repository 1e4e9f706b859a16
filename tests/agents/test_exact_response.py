"""The exact best-response oracle on Kuhn poker: OpenSpiel's values, a policy that attains them,
checkpoints, and PSRO with it reaching a near-Nash mixture."""

import functools

import numpy as np
import pyspiel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from open_spiel.python import policy as os_policy
from open_spiel.python.algorithms import best_response, expected_game_score

from metagame.agents.exact_response import exact_best_response
from metagame.agents.policy import RandomPolicy, load_policy, save_policy
from metagame.envs.registration import make
from metagame.league.exploitability import (
    action_probabilities,
    mixture_exploitability,
    mixture_policy,
)
from metagame.solvers import solve_zero_sum

KUHN = "openspiel:kuhn_poker"
GAME = pyspiel.load_game("kuhn_poker")
BRIDGE = make("openspiel:kuhn_poker").unwrapped  # what the league's players observe


class Fixed:
    """A fixed behavioural policy: a seeded pseudo-random distribution per observation."""

    def __init__(self, seed: int):
        self.seed = seed

    def probabilities(self, observation):
        digest = hash((self.seed, observation["observation"].tobytes())) % 2**32
        probs = np.random.default_rng(digest).dirichlet(np.ones(len(observation["action_mask"])))
        probs = probs * observation["action_mask"]
        return probs / probs.sum()


def member(policy):
    return functools.partial(action_probabilities, policy)


def tabular(policy):
    """The OpenSpiel table of a metagame policy, by the league's own conversion."""
    return mixture_policy(BRIDGE, [policy], [1.0])


def seat_value(policies, seat: int) -> float:
    """Exact expected return of ``seat`` when ``policies[p]`` plays seat p."""
    tables = [tabular(p) for p in policies]
    return float(expected_game_score.policy_value(GAME.new_initial_state(), tables)[seat])


@settings(max_examples=6)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=3), st.data())
def test_value_is_openspiels_best_response_value_and_the_policy_attains_it(seeds, data):
    members = [Fixed(s) for s in seeds]
    weights = data.draw(
        st.lists(st.floats(0.05, 1.0), min_size=len(seeds), max_size=len(seeds)), label="w"
    )
    response = exact_best_response(KUHN, [member(m) for m in members], weights)
    target = mixture_policy(BRIDGE, members, np.asarray(weights) / sum(weights))  # the league's
    for seat in (0, 1):
        expected = best_response.BestResponsePolicy(GAME, seat, target).value(
            GAME.new_initial_state()
        )
        assert response.values[seat] == pytest.approx(expected, abs=1e-9)
        # the saved-and-loaded table policy, played for real against the mixture, gets it
        table = tabular(response.policy)
        profile = [target, target]
        profile[seat] = table
        played = expected_game_score.policy_value(GAME.new_initial_state(), profile)[seat]
        assert played == pytest.approx(expected, abs=1e-9)


def test_best_response_to_uniform_play_has_the_known_values(tmp_path):
    response = exact_best_response(KUHN, [member(RandomPolicy())], [1.0])
    # Kuhn poker: best responses to uniform play win 1/2 as first and 5/12 as second player
    assert response.values == pytest.approx({0: 0.5, 1: 5 / 12})
    # the bare module, as the league's save_player saves a player
    loaded = load_policy(save_policy(response.policy.module, tmp_path / "br"))
    np.testing.assert_array_equal(
        tabular(loaded).action_probability_array,
        tabular(response.policy).action_probability_array,
    )
    assert type(loaded.module).__name__ == "ObservationTableRLModule"
    assert seat_value([loaded, RandomPolicy()], 0) == pytest.approx(0.5)
    # a best response saved by an earlier version (one action per state, no parameter) loads
    import torch

    path = tmp_path / "br"
    state = torch.load(path / "weights.pt", weights_only=True)
    old = {"keys": state["keys"], "actions": state["probs"].argmax(dim=1)}
    torch.save(old, path / "weights.pt")
    earlier = load_policy(path)
    np.testing.assert_array_equal(
        tabular(earlier).action_probability_array,
        tabular(response.policy).action_probability_array,
    )


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_table_lookup_finds_the_first_equal_key(data):
    """The table's hashed lookup equals comparing each observation with every key, after each
    state load (the index follows the buffer); -0.0 equals 0.0 and NaN matches nothing."""
    import torch

    module = exact_best_response(KUHN, [member(RandomPolicy())], [1.0]).policy.module
    states, width = module.keys.shape
    values = st.sampled_from([0.0, -0.0, 1.0, float("nan")])
    row = st.lists(values, min_size=width, max_size=width)
    for _ in range(2):
        pool = data.draw(st.lists(row, min_size=1, max_size=4))  # few rows: duplicate keys
        keys = np.asarray(
            data.draw(st.lists(st.sampled_from(pool), min_size=states, max_size=states)),
            dtype=np.float32,
        )
        module.load_state_dict({**module.state_dict(), "keys": torch.from_numpy(keys)})
        picks = data.draw(st.lists(st.integers(0, states - 1), max_size=6))
        others = data.draw(st.lists(row, max_size=6))
        features = np.asarray([*keys[picks], *others], dtype=np.float32).reshape(-1, width)
        equal = (features[:, None, :] == keys[None]).all(axis=-1)
        expected = np.where(equal.any(axis=1), equal.argmax(axis=1), -1)
        np.testing.assert_array_equal(module.rows(torch.from_numpy(features)).numpy(), expected)


@pytest.mark.parametrize(
    "args, match",
    [
        (("gym:CartPole-v1", [member(RandomPolicy())], [1.0]), "openspiel"),
        ((KUHN, [member(RandomPolicy())], [1.0, 0.5]), "1 members for 2 weights"),
        ((KUHN, [member(RandomPolicy())], [-1.0]), "weights"),
        ((KUHN, [], []), "0 members"),
    ],
)
def test_bad_arguments_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        exact_best_response(*args)


def test_leduc_needs_observations_that_identify_information_states():
    """Leduc's observation tensor shows cards and pot shares but not the betting sequence, so a
    table over it merges information states; over the information-state tensor (the bridge's
    default for imperfect-information games) the response is OpenSpiel's."""
    leduc, members = "openspiel:leduc_poker", [member(RandomPolicy())]
    with pytest.raises(ValueError, match="identify information states"):
        exact_best_response(leduc, members, [1.0], {"observation": "observation"})
    response = exact_best_response(leduc, members, [1.0])
    game = pyspiel.load_game("leduc_poker")
    uniform = os_policy.UniformRandomPolicy(game)
    for seat in (0, 1):
        expected = best_response.BestResponsePolicy(game, seat, uniform)
        assert response.values[seat] == pytest.approx(expected.value(game.new_initial_state()))


def test_psro_with_the_exact_oracle_nears_nash_on_kuhn():
    """PSRO (Lanctot et al., 2017): the Nash of the symmetrised meta-game over the population,
    then its exact best response joins; Kuhn's game value is -1/18 for the first player."""
    population = [RandomPolicy()]
    curve = []
    for _ in range(8):
        n = len(population)
        first = np.array(
            [[seat_value([a, b], 0) for b in population] for a in population]
        )  # first[i, j]: i as first player against j
        meta = solve_zero_sum((first - first.T) / 2)
        probs = np.clip(meta.row, 0, None) / np.clip(meta.row, 0, None).sum()
        response = exact_best_response(KUHN, [member(p) for p in population], probs)
        exploit = mixture_exploitability(KUHN, {}, population, probs)
        # the oracle's values certify the mixture's exploitability: (v0 + v1) / 2
        assert exploit == pytest.approx(sum(response.values.values()) / 2, abs=1e-9)
        curve.append(exploit)
        if exploit < 0.05:
            break
        population.append(response.policy)
        assert len(population) == n + 1
    print("PSRO exact-oracle exploitability:", [round(e, 4) for e in curve])
    assert curve[-1] < 0.05
    assert curve[0] == pytest.approx(0.4583333, abs=1e-6)  # uniform play's exploitability
