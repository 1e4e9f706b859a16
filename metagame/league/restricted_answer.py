"""The league's answer as XDO's restricted game (``evaluation.answer: restricted_game``).

The meta-strategy mixes whole players; XDO (McAleer et al. 2021) answers with the equilibrium
of the restricted game instead, the game cut down at each information state to the actions the
players propose there, which mixes at every information state
(:mod:`metagame.agents.restricted_game`). Each player's table is computed once, from one batched
forward pass over the game's information states; each iteration proposes the actions, solves
the restricted game by CFR+ and records the exact exploitability of its average policy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metagame.agents.restricted_game import RestrictedSolution, proposed_actions, solve_restricted
from metagame.league.exact_payoffs import walkable
from metagame.league.game_spec import GameSpec
from metagame.league.store import Player, Store

KEY = "config key evaluation.answer"


@dataclass
class _Solved:
    """The restricted game of the players ``ids``: its solution and, once asked, the
    solution's exploitability."""

    ids: tuple[str, ...]
    solution: RestrictedSolution
    exploitability: float | None = None


class RestrictedAnswer:
    """Solves the restricted game of the players it is given (see the module docstring); in
    the ``xdo`` mode its equilibrium is also what the trainees meet, through one table module
    (:meth:`module_spec`, :meth:`module_state`)."""

    def __init__(self, spec: GameSpec, policy: Callable[[Player], Any], iterations: int):
        from metagame.agents.sequence_form import SequenceForm
        from metagame.envs.registration import make

        if len(spec.populations) != 1 or not spec.competitive or not walkable(spec):
            raise ValueError(
                f"{KEY}: restricted_game needs a sequential OpenSpiel game whose tree can be "
                f"walked and whose seats share one population; {spec.name} has populations "
                f"{list(spec.populations)}"
            )
        try:
            self.form = SequenceForm(make(spec.name, **spec.kwargs).unwrapped)
        except ValueError as err:
            raise ValueError(f"{KEY}: restricted_game: {err}") from None
        self.spec = spec
        self._policy = policy
        self.iterations = iterations
        self._tables: dict[str, np.ndarray] = {}
        self._last: _Solved | None = None  # kept until the players change

    def table(self, player: Player) -> np.ndarray:
        """``(I, A)``: what ``player`` plays at every information state."""
        if player.id not in self._tables:
            self._tables[player.id] = self.form.policy_table(self._policy(player))
        return self._tables[player.id]

    def _solved(self, players: Sequence[Player]) -> _Solved:
        ids = tuple(p.id for p in players)
        if self._last is None or self._last.ids != ids:
            allowed = proposed_actions(self.form, np.stack([self.table(p) for p in players]))
            self._last = _Solved(ids, solve_restricted(self.form, allowed, self.iterations))
        return self._last

    def solve(self, players: Sequence[Player]) -> RestrictedSolution:
        """The restricted game of ``players`` solved by CFR+ (kept until the players change)."""
        return self._solved(players).solution

    def exploitability(self, players: Sequence[Player]) -> float:
        """The exact exploitability of the restricted game's equilibrium."""
        solved = self._solved(players)
        if solved.exploitability is None:
            solved.exploitability = self.form.exploitability(solved.solution.table)
        return solved.exploitability

    def module_spec(self):
        """The RLModule spec of the table module that plays the equilibrium."""
        from ray.rllib.core.rl_module.rl_module import RLModuleSpec

        from metagame.agents.exact_response import NUM_STATES_KEY, ObservationTableRLModule
        from metagame.agents.rllib import module_spec
        from metagame.agents.rllib.modules import RAW_SPACE_KEY

        agent = self.spec.representative(next(iter(self.spec.populations)))
        base = module_spec(self.spec.name, self.spec.kwargs, agent=agent)
        return RLModuleSpec(
            module_class=ObservationTableRLModule,
            observation_space=base.observation_space,
            action_space=base.action_space,
            model_config={
                RAW_SPACE_KEY: base.model_config[RAW_SPACE_KEY],
                NUM_STATES_KEY: self.form.num_states,
            },
        )

    def module_state(self, players: Sequence[Player]) -> dict[str, np.ndarray]:
        """The table module's state: it plays the equilibrium of ``players``' restricted game
        (keys: each information state's observation features, without the action mask)."""
        table = self.solve(players).table
        keys = self.form.observations[:, : -self.form.num_actions]
        return {"keys": keys.astype(np.float32), "probs": table.astype(np.float32)}

    def policy(self, players: Sequence[Player]):
        """The equilibrium of ``players``' restricted game as a metagame policy (a table
        module), which ``save_policy`` writes and ``load_policy`` reads back."""
        from metagame.agents.policy import RLModulePolicy
        from metagame.agents.rllib.encoding import space_from_json
        from metagame.agents.rllib.modules import RAW_SPACE_KEY

        spec = self.module_spec()
        module = spec.build()
        module.set_state(self.module_state(players))
        module.eval()
        raw = space_from_json(spec.model_config[RAW_SPACE_KEY])
        return RLModulePolicy(module, raw, greedy=False, id="restricted_game")


def solve_run(store: Store, run_dir: str | Path) -> tuple[Any, RestrictedSolution, float]:
    """The restricted game of a league run's active players: its equilibrium as a policy,
    the solution and its exact exploitability (``league solve --solver restricted-game``)."""
    from metagame.league.evaluation import policy_cache
    from metagame.league.game_spec import game_spec

    config = store.get_meta("config") or {}
    game, evaluation = config.get("game"), config.get("evaluation", {})
    if not game:
        raise ValueError(f"the store in {run_dir} does not say the league's config")
    players = store.players(active_only=True)
    if not players:
        raise ValueError(f"the league in {run_dir} has no players yet")
    spec = game_spec(game["name"], game["kwargs"], game["roles"], game["crowds"])
    answer = RestrictedAnswer(spec, policy_cache(run_dir), evaluation["answer_iterations"])
    exploitability = answer.exploitability(players)
    return answer.policy(players), answer.solve(players), exploitability
