"""Empirical games of any shape against the two-player payoff table, brute force and nashpy."""

import itertools

import nashpy
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metagame.league.empirical_game import (
    default_solver,
    empirical_game,
    member_values,
    solve_meta_game,
)
from metagame.league.store import Match, payoff_table


def _match(k, players, returns):
    seats = [f"player_{s}" for s in range(len(players))]
    return Match(k, str(k), 0, list(players), seats, "", list(returns), 1, 0, None)


def _matches_of(tensor, members, rng, count):
    """Matches whose returns are the game's payoffs plus noise, profiles drawn at random."""
    n = tensor.shape[0]
    out = []
    for k in range(count):
        profile = tuple(int(rng.integers(len(members))) for _ in range(n))
        returns = tensor[(slice(None), *profile)] + rng.normal(0, 0.1, n)
        out.append(_match(k, [members[i] for i in profile], returns))
    return out


def brute_value(tensor, seat, strategies):
    """Seat's expected payoff under independent strategies, summed over every pure profile."""
    sizes = tensor.shape[1:]
    total = 0.0
    for cell in itertools.product(*(range(k) for k in sizes)):
        p = np.prod([strategies[j][cell[j]] for j in range(len(sizes))])
        total += p * tensor[(seat, *cell)]
    return total


def brute_nash_conv(tensor, profile):
    """Sum over seats of the best pure deviation's gain, by enumerating every profile."""
    n, sizes = tensor.shape[0], tensor.shape[1:]
    total = 0.0
    for s in range(n):
        deviations = [
            [np.eye(sizes[s])[a] if j == s else profile[j] for j in range(n)]
            for a in range(sizes[s])
        ]
        best = max(brute_value(tensor, s, d) for d in deviations)
        total += best - brute_value(tensor, s, profile)
    return total


@given(seed=st.integers(0, 2**16))
@settings(max_examples=25, deadline=None)
def test_two_player_symmetric_game_is_the_payoff_table(seed):
    rng = np.random.default_rng(seed)
    ids = ["a", "b", "c", "d"]
    matches = []
    for k in range(60):
        i, j = rng.choice(len(ids), 2, replace=False)
        r = float(rng.normal())
        matches.append(_match(k, [ids[i], ids[j]], [r, -r]))
    game = empirical_game(matches, ["player", "player"], {"player": ids}, symmetric=True)
    table, counts = payoff_table(matches, ids)
    off = ~np.eye(len(ids), dtype=bool)
    np.testing.assert_array_equal(game.counts[off], counts[off])
    played = off & (counts > 0)
    np.testing.assert_allclose(game.payoffs[0][played], table[played])
    np.testing.assert_allclose(game.payoffs[1][played], table.T[played])  # seat 1 = transpose


def test_three_seat_symmetric_tensor_is_permutation_symmetric():
    rng = np.random.default_rng(1)
    ids = ["p", "q", "r"]
    matches = [_match(k, list(rng.choice(ids, 3)), rng.normal(size=3)) for k in range(200)]
    game = empirical_game(matches, ["player"] * 3, {"player": ids}, symmetric=True)
    assert game.coverage() == 1.0
    P = game.payoffs
    for order in itertools.permutations(range(3)):
        for cell in itertools.product(range(3), repeat=3):
            moved = tuple(cell[k] for k in order)
            for s in range(3):
                assert P[(order.index(s), *moved)] == pytest.approx(P[(s, *cell)])


def test_asymmetric_roles_keep_one_population_each_and_skip_strangers():
    matches = [
        _match(0, ["hunter", "fox"], [1.0, -1.0]),
        _match(1, ["hunter", "fox"], [3.0, -3.0]),
        _match(2, ["fox", "hunter"], [5.0, -5.0]),  # seats swapped: not a profile of roles
        _match(3, ["hunter2", "fox"], [0.0, 0.0]),
    ]
    game = empirical_game(
        matches, ["pursuer", "evader"], {"pursuer": ["hunter", "hunter2"], "evader": ["fox"]}
    )
    assert game.payoffs.shape == (2, 2, 1) and game.roles == ("pursuer", "evader")
    assert game.payoffs[0, 0, 0] == 2.0 and game.counts.tolist() == [[2], [1]]
    with pytest.raises(ValueError, match="symmetric play ties seats of one role"):
        empirical_game(matches, ["pursuer", "evader"], {"pursuer": [], "evader": []}, True)
    with pytest.raises(ValueError, match="no members given"):
        empirical_game(matches, ["pursuer", "evader"], {"pursuer": []})


@pytest.mark.parametrize("seed", range(4))
def test_nash_of_an_asymmetric_bimatrix_meta_game_is_an_equilibrium_nashpy_finds(seed):
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(2, 3, 2))
    tensor = np.stack([A, B])
    ids = {"row": ["r0", "r1", "r2"], "col": ["c0", "c1"]}
    matches = [
        _match(k, [ids["row"][i], ids["col"][j]], [A[i, j], B[i, j]])
        for k, (i, j) in enumerate(itertools.product(range(3), range(2)))
    ]
    sol = solve_meta_game(empirical_game(matches, ["row", "col"], ids), "nash")
    assert sol.nash_conv < 1e-9
    assert sol.nash_conv == pytest.approx(
        brute_nash_conv(tensor, [sol.strategies["row"], sol.strategies["col"]]), abs=1e-9
    )
    found = list(nashpy.Game(A, B).vertex_enumeration())
    assert any(
        np.allclose(x, sol.strategies["row"], atol=1e-7)
        and np.allclose(y, sol.strategies["col"], atol=1e-7)
        for x, y in found
    )


def test_symmetric_zero_sum_nash_is_rock_paper_scissors_uniform():
    rps = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
    ids = ["rock", "paper", "scissors"]
    matches = [
        _match(k, [ids[i], ids[j]], [rps[i, j], -rps[i, j]])
        for k, (i, j) in enumerate(itertools.product(range(3), repeat=2))
    ]
    game = empirical_game(matches, ["player", "player"], {"player": ids}, symmetric=True)
    for solver in ("nash", "prd", "alpharank", "uniform"):
        sol = solve_meta_game(game, solver)
        np.testing.assert_allclose(sol.strategies["player"], np.full(3, 1 / 3), atol=1e-3)
        assert sol.nash_conv < 1e-3
    ce = solve_meta_game(game, "cce")
    assert ce.joint.shape == (3, 3) and ce.nash_conv < 1e-9


@pytest.mark.parametrize("solver", ["prd", "alpharank", "ce", "cce", "uniform"])
def test_three_player_meta_solvers_are_certified(solver):
    rng = np.random.default_rng(7)
    tensor = rng.normal(size=(3, 2, 2, 2))
    ids = ["x", "y"]
    matches = _matches_of(tensor, ids, rng, 400)
    game = empirical_game(matches, ["a", "b", "c"], {"a": ids, "b": ids, "c": ids})
    sol = solve_meta_game(game, solver)
    assert set(sol.strategies) == {"a", "b", "c"}
    for p in sol.strategies.values():
        assert p.min() >= 0 and p.sum() == pytest.approx(1.0)
    if sol.joint is None:
        profile = [sol.strategies[r] for r in "abc"]
        assert sol.nash_conv == pytest.approx(brute_nash_conv(game.filled(), profile), abs=1e-9)
    else:
        assert sol.joint.shape == (2, 2, 2) and sol.nash_conv <= 1e-8
    if solver == "prd":
        assert sol.nash_conv < 0.05  # PRD's average nears an equilibrium of a 2x2x2 game


def test_exact_nash_is_refused_where_there_is_no_exact_solver():
    rng = np.random.default_rng(0)
    ids = ["x", "y"]
    three = empirical_game(
        _matches_of(rng.normal(size=(3, 2, 2, 2)), ids, rng, 50), ["p"] * 3, {"p": ids}, True
    )
    with pytest.raises(ValueError, match="no exact Nash solver for 3 seats"):
        solve_meta_game(three, "nash")
    with pytest.raises(ValueError, match="meta-solver must be one of"):
        solve_meta_game(three, "fictitious")


def _symmetric(M):
    """The symmetric two-seat empirical game of a payoff matrix (every profile played once)."""
    ids = [f"m{i}" for i in range(len(M))]
    matches = [
        _match(k, [ids[i], ids[j]], [M[i, j], M[j, i]])
        for k, (i, j) in enumerate(itertools.product(range(len(M)), repeat=2))
    ]
    return empirical_game(matches, ["p", "p"], {"p": ids}, symmetric=True)


def test_a_dominant_member_takes_the_mass_of_every_solver():
    transitive = np.array([[0.0, 1.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, -1.0, 0.0]])
    game = _symmetric(transitive)
    assert default_solver(game) == "nash"
    np.testing.assert_allclose(solve_meta_game(game).strategies["p"], [1, 0, 0], atol=1e-6)
    assert solve_meta_game(game, "alpharank").strategies["p"][0] > 0.95
    assert solve_meta_game(game, "prd").strategies["p"][0] > 0.9


@pytest.mark.parametrize("seed", range(4))
def test_member_values_are_nash_averaging_of_the_symmetric_zero_sum_game(seed):
    """Balduzzi et al.'s rating A p for an antisymmetric A, and no member beats the Nash."""
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(5, 5))
    A = 0.5 * (M - M.T)
    game = _symmetric(A)
    sol = solve_meta_game(game)
    p = sol.strategies["p"]
    np.testing.assert_allclose(member_values(game, sol)["p"], A @ p, atol=1e-12)
    assert (A @ p).max() <= 1e-6  # the value of a symmetric zero-sum game is 0


def test_general_sum_symmetric_and_many_seat_games_default_to_prd():
    game = _symmetric(np.array([[3.0, 0.0], [5.0, 1.0]]))  # the prisoner's dilemma
    assert default_solver(game) == "prd"
    np.testing.assert_allclose(solve_meta_game(game, "prd").strategies["p"], [0, 1], atol=0.02)
