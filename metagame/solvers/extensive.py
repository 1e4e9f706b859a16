"""Extensive-form games solved by counterfactual regret minimization through OpenSpiel.

``solve_extensive(game, method, iterations)`` runs one of

- ``"cfr"``: vanilla CFR (Zinkevich et al. 2007), OpenSpiel's C++ ``CFRSolver``;
- ``"cfr+"``: CFR+ with regret matching+, alternating updates and linear averaging
  (Tammelin 2014), OpenSpiel's C++ ``CFRPlusSolver``;
- ``"dcfr"``: discounted CFR with alpha = 3/2, beta = 0, gamma = 2 (Brown & Sandholm 2019),
  OpenSpiel's ``DCFRSolver`` (OpenSpiel implements it in Python only);

and returns the average policy with its certificate from OpenSpiel's C++ best responses: NashConv
(the players' summed best-response gains) and exploitability = NashConv / num_players, plus the
expected returns of the average policy. Simultaneous-move games are first made turn-based
(``pyspiel.convert_to_turn_based``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyspiel

Method = Literal["cfr+", "cfr", "dcfr"]
METHODS = ("cfr+", "cfr", "dcfr")


@dataclass(frozen=True)
class ExtensiveSolution:
    """Average policy of a CFR run and its certificate.

    ``policy`` is a ``pyspiel.TabularPolicy``; ``policy_table`` maps each information state
    string to its ``[(action, probability), ...]``; ``values[i]`` is player i's expected return
    under the policy; ``curve`` lists ``(iteration, exploitability)`` at the recorded points.
    """

    policy: Any
    policy_table: dict[str, list[tuple[int, float]]]
    exploitability: float
    nash_conv: float
    values: np.ndarray
    iterations: int
    method: str
    curve: list[tuple[int, float]] = field(default_factory=list)


def _load(game: Any) -> pyspiel.Game:
    if isinstance(game, str):
        try:
            game = pyspiel.load_game(game)
        except pyspiel.SpielError as err:
            raise ValueError(f"cannot load OpenSpiel game {game!r}: {err}") from None
    if not isinstance(game, pyspiel.Game):
        raise ValueError(f"game must be a pyspiel.Game or a game name, got {type(game).__name__}")
    if game.get_type().dynamics == pyspiel.GameType.Dynamics.SIMULTANEOUS:
        game = pyspiel.convert_to_turn_based(game)
    if not game.get_type().provides_information_state_string:
        raise ValueError(f"{game.get_type().short_name} has no information states; CFR needs them")
    return game


def _solver(game: pyspiel.Game, method: str):
    if method == "cfr+":
        return pyspiel.CFRPlusSolver(game)
    if method == "cfr":
        return pyspiel.CFRSolver(game)
    from open_spiel.python.algorithms.discounted_cfr import DCFRSolver

    return DCFRSolver(game)


def _average(solver, method: str):
    if method == "dcfr":
        from open_spiel.python.policy import python_policy_to_pyspiel_policy

        return python_policy_to_pyspiel_policy(solver.average_policy())
    return solver.tabular_average_policy()


def solve_extensive(
    game: Any,
    method: Method = "cfr+",
    iterations: int = 1000,
    record_every: int | None = None,
) -> ExtensiveSolution:
    """Runs ``iterations`` of CFR-family ``method`` on ``game`` (a ``pyspiel.Game`` or a name
    such as ``"kuhn_poker"``) and certifies the average policy (see the module docstring).
    ``record_every`` adds the exploitability every that many iterations to ``curve``."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if not isinstance(iterations, int | np.integer) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    if record_every is not None and (not isinstance(record_every, int) or record_every < 1):
        raise ValueError(f"record_every must be a positive integer or None, got {record_every!r}")
    game = _load(game)
    solver = _solver(game, method)
    curve = []
    for it in range(1, int(iterations) + 1):
        solver.evaluate_and_update_policy()
        if record_every and it % record_every == 0 and it < iterations:
            curve.append((it, float(pyspiel.exploitability(game, _average(solver, method)))))
    policy = _average(solver, method)
    nash_conv = float(pyspiel.nash_conv(game, policy))
    exploit = nash_conv / game.num_players()
    if record_every:
        curve.append((int(iterations), exploit))
    values = np.asarray(pyspiel.expected_returns(game.new_initial_state(), policy, -1, True))
    return ExtensiveSolution(
        policy=policy,
        policy_table={
            k: [(int(a), float(p)) for a, p in v] for k, v in policy.policy_table().items()
        },
        exploitability=exploit,
        nash_conv=nash_conv,
        values=values,
        iterations=int(iterations),
        method=method,
        curve=curve,
    )
