"""(Simplex-)NeuPL on Kuhn poker: exact sequence-form payoffs against OpenSpiel, the slots'
mixtures, real training, checkpoints."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from open_spiel.python.algorithms import expected_game_score

from metagame.agents.neupl import NeuPL, NeuPLConfig, initial_mixtures
from metagame.agents.policy import RandomPolicy, RLModulePolicy, load_policy, save_policy
from metagame.agents.rllib.conditional import MIXTURE_KEY
from metagame.agents.sequence_form import SequenceForm
from metagame.envs.registration import make
from metagame.league.exploitability import mixture_exploitability
from metagame.solvers import solve_zero_sum

KUHN = "openspiel:kuhn_poker"
UNIFORM_KUHN = 0.4583333333333333  # exploitability of uniform play in Kuhn poker (exact)
SMALL = dict(num_slots=6, num_games=128, batch_steps=1024, minibatch=256, lr=3e-3)


@pytest.fixture(scope="module")
def kuhn_tree():
    return SequenceForm(make(KUHN).unwrapped)


@pytest.fixture(scope="module")
def trained():
    """A NeuPL population trained briefly (real PPO updates) on Kuhn poker."""
    neupl = NeuPL(KUHN, config=NeuPLConfig(**SMALL, seed=0))
    for _ in range(8):
        neupl.update()
    return neupl


@pytest.fixture(scope="module")
def untrained():
    """A NeuPL population whose network the property tests perturb at will."""
    return NeuPL(KUHN, config=NeuPLConfig(**SMALL, seed=1))


def random_tables(tree, rng, count):
    probs = rng.random((count, tree.num_states, tree.num_actions)) ** 3 * tree.legal
    return probs / probs.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("game", ["kuhn_poker", "leduc_poker"])
def test_sequence_form_payoffs_equal_openspiel_policy_values(game):
    tree = SequenceForm(make(f"openspiel:{game}").unwrapped)
    tables = random_tables(tree, np.random.default_rng(1), 3)
    payoffs = tree.payoffs(tables)
    for k, m in [(0, 1), (2, 0), (1, 1)]:
        pair = [tree.tabular_policy(tables[k]), tree.tabular_policy(tables[m])]
        ref = expected_game_score.policy_value(tree.game.new_initial_state(), pair)
        assert payoffs[k, m] == pytest.approx(ref[0], abs=1e-12)
    sym = tree.symmetric_payoffs(tables)
    np.testing.assert_allclose(sym, -sym.T, atol=1e-15)


def test_uniform_play_has_kuhns_known_exploitability(kuhn_tree):
    assert kuhn_tree.num_states == 12
    assert kuhn_tree.exploitability(kuhn_tree.uniform()) == pytest.approx(UNIFORM_KUHN)


def test_sequence_form_refuses_general_sum_games():
    with pytest.raises(ValueError, match="two-player zero-sum"):
        SequenceForm(make("openspiel:kuhn_poker", players=3).unwrapped)


@pytest.mark.parametrize(
    "kwargs", [dict(num_slots=1), dict(simplex=1.5), dict(lr=0.0), dict(hidden=())]
)
def test_bad_config_is_refused_naming_the_key(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        NeuPLConfig(**kwargs)


def test_non_openspiel_game_is_refused():
    with pytest.raises(ValueError, match="game"):
        NeuPL("gym:CartPole-v1")


def test_initial_mixtures_are_the_uniform_interaction_graph():
    sigma = initial_mixtures(4)
    np.testing.assert_allclose(
        sigma, [[1, 0, 0, 0], [1, 0, 0, 0], [0.5, 0.5, 0, 0], [1 / 3, 1 / 3, 1 / 3, 0]]
    )


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**31 - 1))
def test_slot_mixtures_are_lower_triangular_nash_mixtures(untrained, seed):
    """After re-solving on any network, sigma_i is a distribution over slots < i, and a Nash
    mixture of the symmetric game among them (no earlier slot beats it)."""
    torch.manual_seed(seed)
    for p in untrained.module.parameters():
        p.data.add_(0.5 * torch.randn_like(p))
    untrained.refresh()
    sigma = untrained.mixtures
    assert np.all(sigma >= 0)
    np.testing.assert_allclose(sigma.sum(axis=1), 1.0, atol=1e-9)
    assert sigma[0, 0] == 1.0
    for i in range(1, len(sigma)):
        assert np.all(sigma[i, i:] == 0)
        payoffs = untrained.tree.symmetric_payoffs(untrained.tables()[:i])
        assert (sigma[i, :i] @ payoffs).min() >= -1e-6  # value 0: nothing beats it


def test_training_beats_uniform_play_and_matches_the_leagues_exploitability(trained):
    evaluation = trained.evaluate()
    assert evaluation.exploitability < UNIFORM_KUHN - 0.1
    np.testing.assert_allclose(evaluation.answer.sum(), 1.0)
    # independently: Kuhn's theorem walked on the tree over the slots as metagame policies
    members = [RandomPolicy(trained.num_actions)]
    members += [
        RLModulePolicy(trained.slot_module(i), trained.raw_space)
        for i in range(1, trained.config.num_slots)
    ]
    reference = mixture_exploitability(KUHN, {}, members, evaluation.answer)
    assert evaluation.exploitability == pytest.approx(reference, abs=1e-6)  # float32 nets
    # the answer is a Nash mixture of the exact payoff matrix
    eq = solve_zero_sum(evaluation.payoffs)
    assert evaluation.answer @ evaluation.payoffs @ eq.col == pytest.approx(eq.value, abs=1e-6)


def test_slot_module_round_trips_through_a_checkpoint(trained, tmp_path):
    module = trained.slot_module(3)
    loaded = load_policy(save_policy(module, tmp_path / "slot3"))
    obs = torch.from_numpy(trained.tree.observations)
    with torch.no_grad():
        before = module.forward_inference({"obs": obs})["action_dist_inputs"]
        after = loaded.module.forward_inference({"obs": obs})["action_dist_inputs"]
        conditioned = trained.module.forward_inference(
            {
                "obs": obs,
                MIXTURE_KEY: torch.tensor(trained.mixtures[3]).float().expand(len(obs), -1),
            }
        )["action_dist_inputs"]
    assert torch.equal(before, after)
    assert torch.equal(before, conditioned)
    np.testing.assert_array_equal(
        loaded.module.mixture.numpy(), trained.mixtures[3].astype(np.float32)
    )


def test_same_seed_same_population():
    config = NeuPLConfig(**{**SMALL, "batch_steps": 256}, seed=3)
    a, b = NeuPL(KUHN, config=config), NeuPL(KUHN, config=config)
    for _ in range(2):
        a.update()
        b.update()
    np.testing.assert_array_equal(a.tables(), b.tables())
    np.testing.assert_array_equal(a.mixtures, b.mixtures)
