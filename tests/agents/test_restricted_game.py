"""XDO's restricted game solved by CFR+ over the sequence form, against independent references:
a recursive walk of OpenSpiel's tree for counterfactual values, OpenSpiel's exploitability for
the whole game, and brute force over pure strategies for the restricted one."""

import functools
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from open_spiel.python.algorithms import expected_game_score

from metagame.agents.policy import RLModulePolicy
from metagame.agents.restricted_game import (
    _counterfactual_values,
    proposed_actions,
    reachable_terminals,
    solve_restricted,
)
from metagame.agents.rllib import module_spec
from metagame.agents.sequence_form import SequenceForm
from metagame.envs.registration import make
from metagame.league.exploitability import action_probabilities

KUHN = "openspiel:kuhn_poker"


@pytest.fixture(scope="module")
def kuhn():
    return SequenceForm(make(KUHN).unwrapped)


@functools.cache
def leduc_form():
    return SequenceForm(make("openspiel:leduc_poker").unwrapped)


def random_table(form, rng):
    probs = rng.random(form.legal.shape) ** 2 * form.legal + 1e-3 * form.legal
    return probs / probs.sum(axis=1, keepdims=True)


def walked_values(form, table, p):
    """Counterfactual values by recursion over OpenSpiel's states (no sequence form)."""
    out = np.zeros(table.shape)

    def walk(state, reach):
        if state.is_terminal():
            return state.returns()[p]
        if state.is_chance_node():
            return sum(q * walk(state.child(a), reach * q) for a, q in state.chance_outcomes())
        player = state.current_player()
        i = form.index[(player, state.information_state_string(player))]
        total = 0.0
        for a in state.legal_actions():
            if player == p:
                v = walk(state.child(a), reach)
                out[i, a] += reach * v
            else:
                v = walk(state.child(a), reach * table[i, a])
            total += table[i, a] * v
        return total

    walk(form.game.new_initial_state(), 1.0)
    return out


@pytest.mark.parametrize("game", ["kuhn_poker", "leduc_poker"])
def test_counterfactual_values_equal_a_walk_of_the_tree(game):
    form = SequenceForm(make(f"openspiel:{game}").unwrapped)
    table = random_table(form, np.random.default_rng(3))
    for p in (0, 1):
        mine = np.asarray(form.player) == p
        got = _counterfactual_values(reachable_terminals(form, form.legal), table, p)
        np.testing.assert_allclose(got[mine], walked_values(form, table, p)[mine], atol=1e-12)


@pytest.mark.parametrize("members, share", [(1, 0.05), (2, 0.25), (4, 0.8)])
def test_leaving_out_unreachable_terminals_keeps_every_reachable_value(members, share):
    """On Leduc restricted to a few random members' greedy actions, the values summed over the
    restricted game's terminals equal, bit for bit, those over all terminals for every allowed
    action at every state its players can reach; it keeps fewer terminals, far fewer for a
    small population."""
    form = leduc_form()
    rng = np.random.default_rng(members)
    allowed = proposed_actions(form, np.stack([random_table(form, rng) for _ in range(members)]))
    table = random_table(form, rng) * allowed
    table /= table.sum(axis=1, keepdims=True)
    kept, every = reachable_terminals(form, allowed), reachable_terminals(form, form.legal)
    assert len(kept.weighted_utility) < share * len(every.weighted_utility)
    reached = np.append(allowed.ravel(), True)[form.state_pairs].all(axis=1)
    for p in (0, 1):
        pairs = (reached & (np.asarray(form.player) == p))[:, None] & allowed
        np.testing.assert_array_equal(
            _counterfactual_values(kept, table, p)[pairs],
            _counterfactual_values(every, table, p)[pairs],
        )


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_exploitability_is_openspiels_python_value(seed):
    """The form's exploitability (OpenSpiel's C++ best response) equals OpenSpiel's Python
    exploitability on random Leduc tables."""
    from open_spiel.python.algorithms import exploitability

    form = leduc_form()
    table = random_table(form, np.random.default_rng(seed))
    reference = exploitability.exploitability(form.game, form.tabular_policy(table))
    assert form.exploitability(table) == pytest.approx(reference, rel=1e-12, abs=1e-12)
    assert form.exploitability(form.uniform()) != pytest.approx(reference)  # the table matters


def test_cfr_plus_on_the_whole_game_approaches_nash(kuhn):
    exploitability = [
        kuhn.exploitability(solve_restricted(kuhn, kuhn.legal, n).table) for n in (10, 300)
    ]
    assert exploitability[1] < 2e-3 < exploitability[0]


def test_cfr_plus_on_leduc_reaches_its_known_rate():
    form = leduc_form()
    assert form.exploitability(solve_restricted(form, form.legal, 200).table) < 0.01


def restricted_gap(form, table, allowed):
    """The best gain either seat gets by a pure strategy of the restricted game (brute force
    over all of them, valued by OpenSpiel)."""
    root = form.game.new_initial_state()
    gains = []
    for p in (0, 1):
        states = [i for i in range(form.num_states) if form.player[i] == p]
        base = expected_game_score.policy_value(root, [form.tabular_policy(table)] * 2)[p]
        best = -np.inf
        for choice in itertools.product(*(np.flatnonzero(allowed[i]) for i in states)):
            pure = table.copy()
            pure[states] = 0.0
            pure[states, list(choice)] = 1.0
            seats = [form.tabular_policy(table)] * 2
            seats[p] = form.tabular_policy(pure)
            best = max(best, expected_game_score.policy_value(root, seats)[p])
        gains.append(best - base)
    return max(gains)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**31 - 1))
def test_restricted_solution_is_an_equilibrium_of_the_restricted_game(kuhn, seed):
    rng = np.random.default_rng(seed)
    allowed = kuhn.legal & (rng.random(kuhn.legal.shape) < 0.6)
    empty = ~allowed.any(axis=1)
    allowed[empty, rng.integers(0, 2, empty.sum())] = True  # Kuhn: both actions always legal
    solution = solve_restricted(kuhn, allowed, 1000)
    assert np.all(solution.table[~allowed] == 0.0)
    np.testing.assert_allclose(solution.table.sum(axis=1), 1.0)
    assert restricted_gap(kuhn, solution.table, allowed) < 5e-3
    assert solution.coverage == pytest.approx(allowed.sum() / kuhn.legal.sum())


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**31 - 1), count=st.integers(1, 4))
def test_proposed_actions_are_each_members_greedy_actions(kuhn, seed, count):
    rng = np.random.default_rng(seed)
    tables = np.stack([random_table(kuhn, rng) for _ in range(count)])
    allowed = proposed_actions(kuhn, tables)
    for table in tables:
        assert np.all(allowed[np.arange(kuhn.num_states), table.argmax(axis=1)])
    assert np.all(allowed.sum(axis=1) <= count)
    assert not np.any(allowed & ~kuhn.legal)


def test_bad_inputs_are_refused(kuhn):
    with pytest.raises(ValueError, match="allowed: needs at least one action"):
        solve_restricted(kuhn, np.zeros_like(kuhn.legal), 10)
    with pytest.raises(ValueError, match="allowed: expected shape"):
        solve_restricted(kuhn, kuhn.legal[:3], 10)
    with pytest.raises(ValueError, match="iterations"):
        solve_restricted(kuhn, kuhn.legal, 0)
    with pytest.raises(ValueError, match="probs: expected shape"):
        proposed_actions(kuhn, np.zeros((0, kuhn.num_states, kuhn.num_actions)))


def test_a_modules_table_is_what_it_plays_one_state_at_a_time(kuhn):
    env = make(KUHN)
    space = env.observation_space("player_0")
    module = module_spec(KUHN, {}, agent="player_0", fcnet_hiddens=[8]).build()
    policy = RLModulePolicy(module, space)
    table = kuhn.policy_table(policy)
    bridge = env.unwrapped
    state = kuhn.game.new_initial_state()
    for outcome in (0, 1):  # deal two cards; player 0 acts first
        state = state.child(state.chance_outcomes()[outcome][0])
    i = kuhn.index[(0, state.information_state_string(0))]
    expected = action_probabilities(policy, bridge.observation_at(state, 0))
    np.testing.assert_allclose(table[i], expected, atol=1e-6)


def test_one_action_everywhere_is_its_own_equilibrium():
    """A population of one proposes one action per state: the restricted game has one strategy
    profile, which is the solution (no iterations); with a second member, CFR+ runs and mixes."""
    form = leduc_form()
    rng = np.random.default_rng(5)
    one = proposed_actions(form, random_table(form, rng)[None])
    solution = solve_restricted(form, one, 300)
    np.testing.assert_array_equal(solution.table, one.astype(float))
    two = proposed_actions(form, np.stack([random_table(form, rng) for _ in range(2)]))
    mixed = solve_restricted(form, two, 300).table
    assert np.all(mixed[~two] == 0.0) and np.any((mixed > 0.01) & (mixed < 0.99))
