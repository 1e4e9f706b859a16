"""Success and collision counts of a driver policy on the traffic env's controlled vehicles."""

from __future__ import annotations

from typing import NamedTuple


class Outcomes(NamedTuple):
    """Controlled vehicles that entered the road, arrived, and crashed."""

    entered: int
    arrived: int
    crashed: int

    def __add__(self, other: Outcomes) -> Outcomes:  # type: ignore[override]
        return Outcomes(*(a + b for a, b in zip(self, other)))


def episode_outcomes(env, policy, seed: int) -> Outcomes:
    """One episode of ``env`` (a ``TrafficEnv`` without signal agents) with ``policy`` driving
    every controlled vehicle (``act_batch`` over all live agents; bound after the reset if it
    binds). A vehicle still driving at the end counts as entered, neither arrived nor crashed."""
    observations, _ = env.reset(seed=seed)
    if callable(getattr(policy, "reset", None)):
        policy.reset(seed)
    if callable(getattr(policy, "bind", None)):
        policy.bind(env)
    entered, arrived, crashed = set(env.agents), 0, 0
    while env.agents:
        agents = list(env.agents)
        actions = policy.act_batch([observations[a] for a in agents])
        observations, _, terminations, _, infos = env.step(dict(zip(agents, actions.tolist())))
        done = [a for a, end in terminations.items() if end]
        arrived += sum(bool(infos[a].get("arrived")) for a in done)
        crashed += sum(bool(infos[a].get("crashed")) for a in done)
        entered |= set(env.agents)
    return Outcomes(len(entered), arrived, crashed)
