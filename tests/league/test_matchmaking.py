"""Matchmaking: PFSP weightings, meta-strategies, AlphaStar roles, slots and per-episode draws."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metagame.league import matchmaking as mm

RPS = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])


def test_pfsp_known_values():
    x = [0.0, 0.5, 0.75, 1.0]
    np.testing.assert_allclose(
        mm.pfsp_weights(x, "hard", 2.0), np.array([1, 0.25, 1 / 16, 0]) / (1 + 0.25 + 1 / 16)
    )
    np.testing.assert_allclose(
        mm.pfsp_weights(x, "variance"), [0, 0.25, 0.1875, 0] / np.float64(0.4375)
    )
    np.testing.assert_allclose(mm.pfsp_weights(x, "linear"), np.array([1, 0.5, 0.25, 0]) / 1.75)
    np.testing.assert_allclose(
        mm.pfsp_weights(x, "linear_capped"), np.array([0.5, 0.5, 0.25, 0]) / 1.25
    )


@pytest.mark.parametrize("weighting", ["hard", "variance", "linear", "linear_capped"])
def test_pfsp_falls_back_to_uniform_when_all_weights_vanish(weighting):
    np.testing.assert_allclose(mm.pfsp_weights([1.0, 1.0, 1.0], weighting), [1 / 3] * 3)


def test_pfsp_rejects_bad_input():
    with pytest.raises(ValueError, match="weighting must be one of"):
        mm.pfsp_weights([0.5], "soft")
    with pytest.raises(ValueError, match="win_rates must lie in"):
        mm.pfsp_weights([1.5], "hard")


@given(
    st.lists(st.floats(0, 1), min_size=1, max_size=8),
    st.sampled_from(["hard", "variance", "linear", "linear_capped", "uniform"]),
)
def test_pfsp_is_a_distribution_and_hard_prefers_strong_opponents(rates, weighting):
    p = mm.pfsp_weights(rates, weighting)
    assert np.all(p >= 0) and np.isclose(p.sum(), 1.0)
    if weighting in ("hard", "linear") and p.sum() > 0:
        order = np.argsort(rates)  # lower win rate -> stronger opponent -> at least as likely
        assert np.all(np.diff(p[order]) <= 1e-12)


def test_win_rate_counts_draws_as_half():
    assert mm.win_rate((3, 2, 5)) == pytest.approx(0.4)
    assert mm.win_rate(None) == 0.5 and mm.win_rate((0, 0, 0), prior=0.2) == 0.2


def test_alphastar_roles():
    ctx = mm.RoleContext(
        games={("main_exploiter_0", "main_0"): (0, 0, 50)},
        players={"main_000": "main", "main_exploiter_001": "main_exploiter"},
        parents={"main_000": "main_0", "main_exploiter_001": "main_exploiter_0"},
        mains=["main_0"],
    )
    # an exploiter winning under 10% against the live main turns to the main's snapshots
    assert mm.alphastar_distribution("main_exploiter_0", "main_exploiter", ctx) == {"main_000": 1.0}
    main = mm.alphastar_distribution("main_0", "main", ctx)
    assert np.isclose(sum(main.values()), 1.0) and main["main_0"] >= 0.35 - 1e-9
    league = mm.alphastar_distribution("league_exploiter_0", "league_exploiter", ctx)
    assert set(league) == {"main_000", "main_exploiter_001"}
    with pytest.raises(ValueError, match="AlphaStar role must be"):
        mm.alphastar_distribution("x", "coach", ctx)


SEATS = {"player_0": "player", "player_1": "player"}


def test_slots_are_fixed_and_draws_follow_the_table():
    dists = {"main": {"player": {"p0": 0.1, "p1": 0.2, "p2": 0.3, "p3": 0.1, "main": 0.3}}}
    slots = {"player": ["slot_0", "slot_1"]}
    table = mm.plan_slots(dists, {"main": "player"}, SEATS, slots, np.random.default_rng(0))
    assert len(table.slots) == 2 and set(table.slots.values()) <= {"p0", "p1", "p2", "p3"}
    options = {label: (module, w) for module, label, w in table.opponents["main"]["player"]}
    assert set(options) == set(table.slots.values()) | {"main"}
    assert np.isclose(sum(w for _, w in options.values()), 1.0)
    for label, (module, _) in options.items():
        assert module == (
            "main" if label == "main" else next(s for s, p in table.slots.items() if p == label)
        )
    rng = np.random.default_rng(1)
    draws = [mm.draw_assignment(table, rng) for _ in range(20000)]
    for label, (_, w) in options.items():
        got = np.mean([next(iter(d.opponents().values())) == label for d in draws])
        assert got == pytest.approx(w, abs=0.015)
    assert np.mean([d.party == "player_1" for d in draws]) == pytest.approx(0.5, abs=0.015)
    for d in draws[:200]:  # the learner's own role is its module; the other one the opponent's
        assert d.modules[d.party] == "main" and d.labels[d.party] == "main"


def test_one_role_table_has_no_opponent():
    table = mm.plan_slots({}, {"main": "agent"}, {"agent": "agent"}, {}, np.random.default_rng(0))
    draw = mm.draw_assignment(table, np.random.default_rng(0))
    assert draw == mm.Assignment("main", "agent", {"agent": "main"}, {"agent": "main"})
    assert draw.opponents() == {}


def test_two_populations_draw_members_of_the_other_role_only():
    """Pursuers and evader: each learner plays its own role; the other role is always played by
    a member of the other population (a slot of that population or its live learner)."""
    roles = {"pursuer": "pursuer", "evader": "evader"}
    learners = {"main_pursuer": "pursuer", "main_evader": "evader"}
    dists = {
        "main_pursuer": {"evader": {"e0": 0.5, "e1": 0.25, "main_evader": 0.25}},
        "main_evader": {"pursuer": {"q0": 1.0}},
    }
    slots = {"pursuer": ["slot_pursuer_0"], "evader": ["slot_evader_0", "slot_evader_1"]}
    table = mm.plan_slots(dists, learners, roles, slots, np.random.default_rng(0))
    assert table.slots == {"slot_pursuer_0": "q0", "slot_evader_0": "e0", "slot_evader_1": "e1"}
    rng = np.random.default_rng(2)
    for _ in range(500):
        d = mm.draw_assignment(table, rng)
        assert learners[d.learner] == d.party
        (other,) = d.opponents()
        assert d.labels[other] in {"e0", "e1", "main_evader", "q0"}
        assert (d.labels[other] in {"e0", "e1", "main_evader"}) == (other == "evader")
