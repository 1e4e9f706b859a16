"""Exact entries of the empirical game for small sequential OpenSpiel games.

An empirical game estimated from matches is noisy: in Kuhn poker a seat's return has a standard
deviation near 1.3 chips, so 40 matches per profile leave a standard error near 0.2, ten times
the exploitability a good league reaches, and the meta-Nash of such a table follows its noise
(Wellman 2006, "Methods for empirical game-theoretic analysis", on sampling error in empirical
games). In a game whose tree can be walked the entry needs no sampling: each player becomes the
OpenSpiel ``TabularPolicy`` it plays (:func:`metagame.league.exploitability.tabular_policy`,
one batched query per player), and ``expected_game_score.policy_value`` gives every seat's
exact expected return. A profile of Kuhn poker costs half a millisecond, one of Leduc poker
(9,457 histories) about 0.1 s, and a Leduc player's table about 50 ms.

:class:`ExactPayoffs` records these entries in the store (``Store.record_expected_returns``),
one per evaluation profile, keyed like the matches, so that an interrupted evaluation resumes
without losing or duplicating one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from metagame.league.game_spec import GameSpec
from metagame.league.store import Player, Store

MAX_HISTORIES = 100_000  # the largest tree walked for exact entries (Leduc poker: 9,457)
EXACT = "exact|"  # the key prefix of an exact entry


def count_histories(game: Any, limit: int) -> int:
    """The number of histories (nodes) of a sequential game's tree, or ``limit + 1`` once it
    passes ``limit``."""
    count, stack = 0, [game.new_initial_state()]
    while stack and count <= limit:
        state = stack.pop()
        count += 1
        if state.is_terminal():
            continue
        actions = (
            [a for a, _ in state.chance_outcomes()]
            if state.is_chance_node()
            else state.legal_actions()
        )
        stack.extend(state.child(a) for a in actions)
    return count


def walkable(spec: GameSpec, limit: int = MAX_HISTORIES) -> bool:
    """Whether ``spec`` is a sequential OpenSpiel game of at most ``limit`` histories."""
    if not spec.name.startswith("openspiel:"):
        return False
    import pyspiel

    from metagame.envs.registration import make

    game = make(spec.name, **spec.kwargs).unwrapped.game
    if game.get_type().dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
        return False
    return count_histories(game, limit) <= limit


class ExactPayoffs:
    """Exact expected returns of the league's evaluation profiles (see the module docstring).

    ``policy(player)`` loads a player's policy; each player's table is built once.
    """

    def __init__(self, spec: GameSpec, policy: Callable[[Player], Any]):
        from metagame.envs.registration import make

        if not walkable(spec):
            raise ValueError(
                f"{spec.name}: exact payoffs need a sequential OpenSpiel game of at most "
                f"{MAX_HISTORIES:,} histories"
            )
        from metagame.league.exploitability import information_states

        self.spec = spec
        self._bridge = make(spec.name, **spec.kwargs).unwrapped
        self._states = information_states(self._bridge)
        self._policy = policy
        self._tables: dict[str, Any] = {}

    def table(self, player: Player) -> Any:
        """The OpenSpiel ``TabularPolicy`` ``player`` plays (in every seat)."""
        from metagame.league.exploitability import tabular_policy

        if player.id not in self._tables:
            policy = self._policy(player)
            self._tables[player.id] = tabular_policy(self._bridge, policy, self._states)
        return self._tables[player.id]

    def returns(self, players: Sequence[Player], agent_seats: Sequence[int]) -> list[float]:
        """Each seat's exact expected return (its agents' mean) when ``players[s]`` plays seat
        ``s`` and agent ``k`` of the game sits in seat ``agent_seats[k]``."""
        from open_spiel.python.algorithms import expected_game_score

        tables = [self.table(players[s]) for s in agent_seats]
        root = self._bridge.game.new_initial_state()
        values = np.asarray(expected_game_score.policy_value(root, tables), dtype=np.float64)
        seats = np.asarray(agent_seats)
        return [float(values[seats == s].mean()) for s in range(len(players))]

    def fill(self, store: Store, iteration: int) -> int:
        """Records the missing entries of the active players' profiles; returns how many."""
        from metagame.league.evaluation import seatings

        done = {e.key for e in store.expected_returns()}
        added = 0
        for block in seatings(self.spec, store.players(active_only=True)):
            if block.prefix:  # a team's cross-play: not an entry of the empirical game
                continue
            ids = [p.id for p in block.players]
            key = EXACT + "|".join(ids)
            if key in done:
                continue
            returns = self.returns(block.players, block.agent_seats)
            added += store.record_expected_returns(
                key, iteration=iteration, players=ids, returns=returns
            )
        return added
