"""CFR-family solving of extensive-form games through OpenSpiel."""

import numpy as np
import pytest

from metagame.solvers import solve_extensive


@pytest.fixture(scope="module")
def kuhn():
    return solve_extensive("kuhn_poker", method="cfr+", iterations=1000, record_every=250)


def test_kuhn_poker_value_and_exploitability(kuhn):
    assert kuhn.exploitability < 1e-3
    assert kuhn.values[0] == pytest.approx(-1 / 18, abs=1e-3)
    assert kuhn.values.sum() == pytest.approx(0.0, abs=1e-12)
    assert kuhn.nash_conv == pytest.approx(2 * kuhn.exploitability)
    assert [it for it, _ in kuhn.curve] == [250, 500, 750, 1000]
    assert kuhn.curve[-1][1] < kuhn.curve[0][1]


def test_kuhn_second_player_strategy_is_the_unique_equilibrium_one(kuhn):
    """Player 2's equilibrium strategy in Kuhn poker is unique (Kuhn 1950): call a bet with
    the king, fold the jack, call with the queen 1/3 of the time, check the queen behind, and
    bluff the jack 1/3 of the time after a check (actions: 0 = pass, 1 = bet)."""
    table = {k: dict(v) for k, v in kuhn.policy_table.items()}
    assert table["2b"][1] == pytest.approx(1.0, abs=0.02)
    assert table["0b"][0] == pytest.approx(1.0, abs=0.02)
    assert table["1b"][1] == pytest.approx(1 / 3, abs=0.03)
    assert table["1p"][0] == pytest.approx(1.0, abs=0.02)
    assert table["0p"][1] == pytest.approx(1 / 3, abs=0.03)
    for probs in table.values():
        assert sum(probs.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["cfr", "dcfr"])
def test_other_methods_converge_on_kuhn(method):
    sol = solve_extensive("kuhn_poker", method=method, iterations=200, record_every=50)
    assert sol.method == method and sol.exploitability < 5e-3
    assert sol.curve[-1][1] < sol.curve[0][1]
    assert sol.values[0] == pytest.approx(-1 / 18, abs=5e-3)


def test_simultaneous_games_are_made_turn_based():
    sol = solve_extensive("matrix_mp", iterations=50)
    assert sol.exploitability < 1e-3
    np.testing.assert_allclose(sol.values, 0.0, atol=1e-3)


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="unknown method"):
        solve_extensive("kuhn_poker", method="mccfr")
    with pytest.raises(ValueError, match="iterations"):
        solve_extensive("kuhn_poker", iterations=0)
    with pytest.raises(ValueError, match="cannot load"):
        solve_extensive("no_such_game")
    with pytest.raises(ValueError, match="pyspiel.Game"):
        solve_extensive(42)
