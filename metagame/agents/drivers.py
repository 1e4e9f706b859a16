"""Scripted traffic drivers: controlled vehicles of the traffic env driven by IDM and MOBIL.

:class:`IDMPolicy` is the baseline of traffic papers (highway-env's and iPLAN's rule-based
drivers): the Intelligent Driver Model for car following (Treiber, Hennecke and Helbing 2000)
and MOBIL for lane changes (Kesting, Treiber and Helbing 2007), here exactly the model and
junction logic of the env's own background drivers (``metagame.envs.traffic.drivers`` and
``core``). It cannot be expressed through the meta-actions (which set a target speed for a
speed controller), so ``bind(env)`` hands the vehicles it drives to the env's autopilot
(``TrafficEnv.set_autopilot``) and ``act`` answers "keep", which leaves them to it. ``play``
calls ``bind`` after each reset::

    play("traffic", {"vehicle": IDMPolicy()}, env_kwargs={"scenario": "intersection"})

With ``style`` (a driver type of ``metagame.envs.traffic.drivers``: ``"cautious"``,
``"normal"``, ``"aggressive"``) every vehicle it drives takes that type's mean parameters
(:func:`drive_with_styles`) instead of its own randomly drawn ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from metagame.envs.traffic.drivers import DRIVER_TYPES, LENGTH, TYPE_PARAMS

KEEP = 0  # metagame.envs.traffic.observe.KEEP


def drive_with_styles(env, slots: np.ndarray, styles: np.ndarray) -> None:
    """Vehicles ``slots`` of a traffic env drive with the mean IDM/MOBIL parameters of driver
    types ``styles`` (rows of ``drivers.TYPE_PARAMS``), each keeping its own length."""
    length = env.params[LENGTH, slots].copy()
    env.params[:, slots] = TYPE_PARAMS[styles].T
    env.params[LENGTH, slots] = length


class IDMPolicy:
    """Drives controlled vehicles of a traffic env by IDM/MOBIL (see the module docstring):
    every vehicle agent of the bound env, or those named in ``agents``."""

    def __init__(self, agents: Sequence[str] | None = None, style: str | None = None):
        if style is not None and style not in DRIVER_TYPES[:3]:
            raise ValueError(
                f"style must be one of {list(DRIVER_TYPES[:3])} or None, got {style!r}"
            )
        self.agents = None if agents is None else list(agents)
        self.style = style
        self.id = "idm" if style is None else f"idm_{style}"
        self._env = None

    def reset(self, seed: int | None = None) -> None:
        """Nothing to reseed: the drivers are deterministic given the env's state."""

    def bind(self, env) -> None:
        """Hands this policy's vehicles of ``env`` (a ``TrafficEnv``) to its autopilot."""
        env = getattr(env, "unwrapped", env)
        if not callable(getattr(env, "set_autopilot", None)):
            raise ValueError(f"IDMPolicy drives traffic envs only, got {type(env).__name__}")
        agents = env.vehicle_agents if self.agents is None else self.agents
        for agent in agents:
            env.set_autopilot(agent)
        self._env = env

    def act(self, observation, action_mask=None) -> int:
        """ "keep": the autopilot drives (the policy must be bound first)."""
        self._bound()
        return KEEP

    def act_batch(self, observations: Sequence, action_masks: Sequence | None = None) -> np.ndarray:
        self._bound()
        return np.full(len(observations), KEEP, dtype=np.int64)

    def _bound(self) -> None:
        if self._env is None:
            raise ValueError("IDMPolicy: bind(env) first (play does it after each reset)")
        if self.style is not None:  # vehicles that entered since the last step take the style
            env = self._env
            agents = env.vehicle_agents if self.agents is None else self.agents
            slots = np.array([env.agent_slot(a) for a in agents if env.agent_slot(a) >= 0])
            style = DRIVER_TYPES.index(self.style)
            drive_with_styles(env, slots.astype(np.int64), np.full(len(slots), style))
