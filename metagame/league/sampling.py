"""What runs inside RLlib's EnvRunners (and Learners) for the league.

The driver installs an iteration's :class:`~metagame.league.matchmaking.MatchTable` in every
EnvRunner (:func:`install_table`, via ``foreach_env_runner``). The first call of the
agent-to-module mapping in an episode draws that episode's :class:`Assignment` (the learner,
its party, every other party's member; a party is a role, or one agent of a crowd role) and
keeps it in the episode's ``custom_data``, so later calls and the episode-end callback need
nothing else from this process. The callback tallies env steps and, per opponent, the learner's
(win, draw, loss): its party's return (the mean of its agents') against the mean return of the
parties that opponent played, so each agent's return counts for the member it played; the
driver collects the tallies after training with :func:`tallies` (not
through RLlib's ``MetricsLogger``, whose state a restored checkpoint does not reproduce exactly).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
from ray.rllib.callbacks.callbacks import RLlibCallback

from metagame.league import matchmaking as mm
from metagame.league.evaluation import stable_seed

ASSIGNMENT_KEY = "metagame_league_assignment"

# Per-process state: the iteration's match table, each agent's party, the draws' generator,
# and the tallies of this process's finished episodes.
_RUNTIME = SimpleNamespace(
    table=None, agent_parties={}, rng=np.random.default_rng(0), games={}, steps=0
)


def install_table(
    table: mm.MatchTable, agent_parties: dict[str, str], seed: int, env_runner: Any
) -> None:
    """Installs an iteration's match table in one EnvRunner (called via foreach_env_runner)."""
    _RUNTIME.table = table
    _RUNTIME.agent_parties = dict(agent_parties)
    _RUNTIME.rng = np.random.default_rng([seed, int(getattr(env_runner, "worker_index", 0))])


def reseed(seed: int, worker: Any) -> None:
    """Seeds a process's torch, NumPy and Python generators (via foreach_env_runner/learner)
    and starts its episode tallies afresh."""
    from ray.rllib.utils.debug import update_global_seed_if_necessary

    index = int(getattr(worker, "worker_index", 0) or 0)
    update_global_seed_if_necessary("torch", stable_seed(seed, index))
    _RUNTIME.games, _RUNTIME.steps = {}, 0
    if hasattr(worker, "_seed"):  # an EnvRunner: its envs' first reset this iteration
        worker._seed = stable_seed(seed, index, "env")


def tallies(env_runner: Any) -> tuple[dict[tuple[str, str], list[int]], int]:
    """This process's (learner, opponent) -> [wins, draws, losses] and env steps this
    iteration (via foreach_env_runner)."""
    return _RUNTIME.games, _RUNTIME.steps


def set_module_state(state: dict[str, Any], env_runner: Any) -> None:
    env_runner.set_state({**state, "weights_seq_no": 0})  # 0: applied whatever the runner's


def kl_coefficients(learner: Any) -> dict[str, float]:
    """A PPO-family learner's adaptive KL coefficients, which RLlib's checkpoints omit."""
    coefficients = getattr(learner, "curr_kl_coeffs_per_module", {})
    return {module: float(value) for module, value in coefficients.items()}


def set_kl_coefficients(values: dict[str, float], learner: Any) -> None:
    for module, value in values.items():
        learner.curr_kl_coeffs_per_module[module].data.fill_(value)


def agent_to_module(agent_id: str, episode: Any, **kwargs: Any) -> str:
    """RLlib's agent-to-module mapping: the episode's assignment, drawn at its first call."""
    try:
        assignment = episode.custom_data.get(ASSIGNMENT_KEY)
    except AttributeError:
        # MultiAgentEpisode.cut() builds its successor with known module ids but still calls
        # the mapping eagerly, before custom_data exists; RLlib discards this answer.
        return next(iter(_RUNTIME.table.learners))
    if assignment is None:
        if _RUNTIME.table is None:
            raise RuntimeError("league match table not installed in this EnvRunner")
        assignment = mm.draw_assignment(_RUNTIME.table, _RUNTIME.rng)
        episode.custom_data[ASSIGNMENT_KEY] = assignment
    return assignment.modules[_RUNTIME.agent_parties[agent_id]]


def party_returns(returns: dict[str, float], agent_parties: dict[str, str]) -> dict[str, float]:
    """Each party's mean agent return (a missing agent counts zero)."""
    by_party: dict[str, list[float]] = {}
    for agent, party in agent_parties.items():
        by_party.setdefault(party, []).append(returns.get(agent, 0.0))
    return {party: _mean(values) for party, values in by_party.items()}


def outcomes(assignment: mm.Assignment, returns: dict[str, float]) -> dict[str, int]:
    """The learner's outcome (0 win, 1 draw, 2 loss) against each opponent label: its party's
    return against the mean return of the other parties that label played."""
    mine = returns[assignment.party]
    played: dict[str, list[float]] = {}
    for party, label in assignment.opponents().items():
        played.setdefault(label, []).append(returns[party])
    out = {}
    for label, theirs in played.items():
        other = _mean(theirs)
        out[label] = 0 if mine > other else 2 if mine < other else 1
    return out


def _mean(values: list[float]) -> float:
    """The mean of a few floats (in plain Python: this runs once per episode)."""
    return float(sum(values)) / len(values)


def _agent_returns(episodes: list[Any]) -> dict[str, float]:
    returns: dict[str, float] = {}
    for chunk in episodes:
        for agent, single in chunk.agent_episodes.items():
            returns[agent] = returns.get(agent, 0.0) + float(single.get_return())
    return returns


class LeagueCallbacks(RLlibCallback):
    """Tallies each finished episode's env steps and, per opponent, the learner's outcome.

    After each ``sample()`` call it clears the EnvRunner's env seed: RLlib's runner resets
    every env with that seed at every call in ``complete_episodes`` mode, which replays the
    same chance draws (card deals, starts) call after call; unseeded, later resets continue
    the envs' generators (seeded at the iteration's first reset, so runs stay reproducible).
    """

    def on_sample_end(self, *, env_runner=None, **kwargs):
        if env_runner is not None and hasattr(env_runner, "_seed"):
            env_runner._seed = None

    def on_episode_end(self, *, episode, prev_episode_chunks=None, **kwargs):
        chunks = [*(prev_episode_chunks or []), episode]
        _RUNTIME.steps += sum(int(chunk.env_steps()) for chunk in chunks)
        assignment = getattr(episode, "custom_data", {}).get(ASSIGNMENT_KEY)
        if assignment is None or not assignment.opponents():
            return
        returns = party_returns(_agent_returns(chunks), _RUNTIME.agent_parties)
        for label, outcome in outcomes(assignment, returns).items():
            record = _RUNTIME.games.setdefault((assignment.learner, label), [0, 0, 0])
            record[outcome] += 1
