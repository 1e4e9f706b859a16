"""Exact entries of the empirical game: tree sizes, returns against Monte Carlo play, the store."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metagame.agents.arena import play
from metagame.agents.policy import MixedStrategyPolicy
from metagame.envs.registration import make
from metagame.league.evaluation import game_entries, population_game
from metagame.league.exact_payoffs import ExactPayoffs, count_histories, walkable
from metagame.league.game_spec import game_spec
from metagame.league.store import Store


class Seeded:
    """A fixed behavioural policy: a seeded pseudo-random distribution per observation."""

    def __init__(self, seed: int):
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def probabilities(self, observation, action_mask=None):
        if isinstance(observation, dict):
            observation, action_mask = observation["observation"], observation["action_mask"]
        digest = hash((self.seed, np.asarray(observation).tobytes())) % 2**32
        probs = np.random.default_rng(digest).dirichlet(np.ones(len(action_mask)))
        probs = probs * np.asarray(action_mask)
        return probs / probs.sum()

    def reset(self, seed=None):
        self.rng = np.random.default_rng(seed)

    def act(self, observation, action_mask=None):
        probs = self.probabilities(observation, action_mask)
        return int(self.rng.choice(len(probs), p=probs))

    def act_batch(self, observations, action_masks=None):
        return np.array([self.act(o, m) for o, m in zip(observations, action_masks, strict=True)])


def _recursive_count(state) -> int:  # the reference: plain recursion, no limit
    if state.is_terminal():
        return 1
    actions = (
        [a for a, _ in state.chance_outcomes()] if state.is_chance_node() else state.legal_actions()
    )
    return 1 + sum(_recursive_count(state.child(a)) for a in actions)


@pytest.mark.parametrize("name", ["kuhn_poker", "leduc_poker", "kuhn_poker(players=3)"])
def test_history_counts_match_a_recursive_walk(name):
    game = make(f"openspiel:{name}").unwrapped.game
    expected = _recursive_count(game.new_initial_state())
    assert count_histories(game, 10**6) == expected
    assert count_histories(game, expected - 1) == expected  # stops once past the limit
    assert count_histories(game, 10) == 11


def test_known_sizes_and_what_is_walkable():
    kuhn = make("openspiel:kuhn_poker").unwrapped.game
    assert count_histories(kuhn, 10**6) == 58  # 1 + 3 + 6 deals, then 48 betting histories
    assert walkable(game_spec("openspiel:kuhn_poker", {}))
    assert walkable(game_spec("openspiel:leduc_poker", {}))
    assert not walkable(game_spec("openspiel:leduc_poker", {}), limit=9_000)
    assert not walkable(game_spec("openspiel:goofspiel", {"num_cards": 3}))  # simultaneous
    assert not walkable(game_spec("gym:CartPole-v1", {}))


def test_a_game_too_large_is_refused():
    with pytest.raises(ValueError, match="at most 100,000 histories"):
        ExactPayoffs(game_spec("openspiel:liars_dice", {}), lambda p: None)


@settings(max_examples=3, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_exact_returns_agree_with_monte_carlo_play(a, b):
    """Leduc: the tree walk's expected returns lie within 4 standard errors of 4,000 played
    games' mean, and sum to zero."""
    spec = game_spec("openspiel:leduc_poker", {})
    policies = {"a": Seeded(a), "b": Seeded(b)}
    exact = ExactPayoffs(spec, lambda p: policies[p.id])
    players = [_Player("a"), _Player("b")]
    returns = exact.returns(players, [0, 1])
    assert sum(returns) == pytest.approx(0.0, abs=1e-9)
    result = play(spec.name, [policies["a"], policies["b"]], episodes=4000, seed=a ^ b)
    sampled = np.asarray(result.returns)[:, 0]
    error = sampled.std(ddof=1) / np.sqrt(len(sampled))
    assert abs(sampled.mean() - returns[0]) < 4 * error


class _Player:
    def __init__(self, pid: str):
        self.id = pid


def test_fill_records_every_profile_once_and_the_game_rests_on_it(tmp_path, store_rows):
    """Kuhn, two tied seats: one entry per ordered pair of distinct players; a second fill adds
    none; the empirical game is the exact table (antisymmetric: zero-sum and symmetric)."""
    spec = game_spec("openspiel:kuhn_poker", {})
    policies = {}
    with Store(tmp_path, create=True) as store:
        for k, probs in enumerate([[1.0, 0.0], [0.0, 1.0], [0.3, 0.7]]):
            player = store_rows.player(store, f"players/{k}", kind="snapshot", iteration=k)
            policies[player.id] = MixedStrategyPolicy(probs)
        exact = ExactPayoffs(spec, lambda p: policies[p.id])
        assert exact.fill(store, iteration=0) == 6
        assert exact.fill(store, iteration=0) == 0
        players = store.players()
        entries = game_entries(store, store.matches())
        game = population_game(spec, players, entries)
        table = game.payoffs[0]
        off = ~np.eye(3, dtype=bool)
        assert np.all(game.counts[off] > 0) and np.isnan(np.diag(table)).all()
        np.testing.assert_allclose(table[off], -table.T[off], atol=1e-12)
        pid = [p.id for p in players]
        direct = exact.returns([players[0], players[1]], [0, 1])
        row = {e.key: e.returns for e in store.expected_returns()}
        for seat_order in ([0, 1], [1, 0]):
            i, j = seat_order
            assert f"exact|{pid[i]}|{pid[j]}" in row
        swapped = exact.returns([players[1], players[0]], [0, 1])
        assert table[0, 1] == pytest.approx((direct[0] + swapped[1]) / 2)
        store.rollback(-1)
        assert store.expected_returns() == []
