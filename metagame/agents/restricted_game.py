"""XDO's restricted game: the equilibrium of a small game whose actions are the ones a
population proposes.

Extensive-form double oracle (XDO; McAleer, Lanier, Wang, Baldi and Fox, 2021, "XDO: A Double
Oracle Algorithm for Extensive-Form Games") grows a population of best responses like PSRO, but
its meta-game is not the normal-form game of whole policies: it is the *restricted game*, the
game itself with each information state's actions cut down to those some member plays there.
A mixed strategy over members mixes whole policies; an equilibrium of the restricted game mixes
at every information state, so it can combine one member's play in one part of the tree with
another's elsewhere. On Leduc poker PSRO needs hundreds of responses where XDO needs tens.

The restricted game here is solved by CFR+ (Tammelin 2014, "Solving large imperfect information
games using CFR+"; alternating updates, regret matching+, the average weighted by the iteration),
written over the sequence form of :class:`metagame.agents.sequence_form.SequenceForm`: per
terminal history ``z`` and pair ``(I, a)`` of player ``p`` on it, the counterfactual value of
``(I, a)`` collects ``c(z) u_p(z) R_{-p}(z)`` times the product of ``p``'s own probabilities
after ``(I, a)`` on ``z``; every iteration is a handful of array operations over the terminals
(Leduc poker: 1,000 iterations in about a second), not a walk of the tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from metagame.agents.sequence_form import SequenceForm


def proposed_actions(form: SequenceForm, probs: np.ndarray) -> np.ndarray:
    """``(I, A)`` bool: at each information state, the actions some member's table ``probs
    (K, I, A)`` plays most (its greedy action); the restricted game's action sets."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 3 or probs.shape[1:] != form.legal.shape or len(probs) == 0:
        raise ValueError(f"probs: expected shape (K >= 1, {form.num_states}, {form.num_actions})")
    masked = np.where(form.legal[None], probs, -np.inf)
    allowed = np.zeros(form.legal.shape, dtype=bool)
    rows = np.arange(form.num_states)
    for table in masked:
        allowed[rows, table.argmax(axis=1)] = True
    return allowed


@dataclass(frozen=True)
class RestrictedSolution:
    """CFR+'s average policy ``table (I, A)`` of the restricted game, ``allowed``, its action
    sets, and the share of the game's legal (state, action) pairs they keep."""

    table: np.ndarray
    allowed: np.ndarray
    coverage: float


def solve_restricted(
    form: SequenceForm, allowed: np.ndarray, iterations: int = 1000
) -> RestrictedSolution:
    """CFR+ on the game of ``form`` restricted to ``allowed (I, A)`` (see the module
    docstring); the average policy plays only allowed actions."""
    allowed = np.asarray(allowed, dtype=bool)
    if allowed.shape != form.legal.shape:
        raise ValueError(f"allowed: expected shape {form.legal.shape}, got {allowed.shape}")
    if np.any(allowed & ~form.legal) or not np.all(allowed.any(axis=1)):
        raise ValueError("allowed: needs at least one action per state, all of them legal")
    if iterations < 1:
        raise ValueError(f"iterations: expected >= 1, got {iterations}")
    coverage = float(allowed.sum() / form.legal.sum())
    if np.all(allowed.sum(axis=1) == 1):  # one strategy profile, CFR+'s answer from the start
        return RestrictedSolution(allowed.astype(np.float64), allowed, coverage)
    players = np.asarray(form.player)
    terminals = reachable_terminals(form, allowed)
    uniform = allowed / allowed.sum(axis=1, keepdims=True)
    current = uniform.copy()
    regrets = np.zeros(allowed.shape)
    average = np.zeros(allowed.shape)
    for t in range(1, iterations + 1):
        for p in (0, 1):
            mine = players == p
            average[mine] += t * _own_reach(form, current)[mine, None] * current[mine]
            values = _counterfactual_values(terminals, current, p)
            node = (current * values).sum(axis=1, keepdims=True)
            update = np.maximum(regrets + values - node, 0.0) * allowed
            regrets[mine] = update[mine]
            positive = regrets.sum(axis=1, keepdims=True)
            matched = np.where(positive > 0, regrets / np.where(positive > 0, positive, 1), uniform)
            current[mine] = matched[mine]
    total = average.sum(axis=1, keepdims=True)
    table = np.where(total > 0, average / np.where(total > 0, total, 1.0), uniform)
    return RestrictedSolution(table, allowed, coverage)


def _own_reach(form: SequenceForm, table: np.ndarray) -> np.ndarray:
    """``(I,)``: the probability the state's player's own actions lead to each state."""
    return form._flat(table[None])[0][form.state_pairs].prod(axis=1)


class Terminals(NamedTuple):
    """Terminal histories ``z`` as CFR+ sums over them: each player's pairs along ``z``
    (``(Z, D)`` flat pair indices, padded with the pair past the last, as in
    :class:`SequenceForm`) and ``c(z) u_0(z)``."""

    pairs: tuple[np.ndarray, np.ndarray]
    weighted_utility: np.ndarray


def reachable_terminals(form: SequenceForm, allowed: np.ndarray) -> Terminals:
    """The terminals of ``form`` whose pairs are all ``allowed``. Each other terminal has a
    pair of probability exactly 0 in every strategy of the restricted game, so it adds exactly
    0 to the counterfactual value of every allowed action at the states the restricted game can
    reach (the cut pair is the opponent's, or one's own before the state); only cut actions
    and states behind one's own cut action, which nobody reaches, see other values. Leaving
    them out makes the solves of a small population's restricted game cheap."""
    ok = np.append(np.asarray(allowed, dtype=bool).ravel(), True)
    keep = ok[form.terminal_pairs[0]].all(axis=1) & ok[form.terminal_pairs[1]].all(axis=1)
    pairs = (form.terminal_pairs[0][keep], form.terminal_pairs[1][keep])
    return Terminals(pairs, form.weighted_utility[keep])


def _counterfactual_values(terminals: Terminals, table: np.ndarray, p: int) -> np.ndarray:
    """``(I, A)``: player ``p``'s counterfactual value of every pair (zero at the other
    player's states), summed over ``terminals``, when both play ``table``."""
    flat = np.append(table.ravel(), 1.0)  # the pair probabilities, the padding pair last
    pairs = terminals.pairs[p]  # (Z, D): p's pairs along each terminal, padded at the end
    opponent = flat[terminals.pairs[1 - p]].prod(axis=1)
    weight = (1.0 if p == 0 else -1.0) * terminals.weighted_utility * opponent  # (Z,)
    own = flat[pairs]
    after = np.ones_like(own)  # the product of p's own probabilities after each pair
    after[:, :-1] = np.cumprod(own[:, :0:-1], axis=1)[:, ::-1]
    values = np.bincount(
        pairs.ravel(), weights=(weight[:, None] * after).ravel(), minlength=flat.size
    )
    return values[:-1].reshape(table.shape)
