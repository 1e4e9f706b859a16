"""Rule-based traffic drivers as RLModules: fixed members of a league's vehicle population.

:class:`TrafficDriverRLModule` drives a controlled vehicle of the traffic env from its own
observation alone, through the env's meta-actions, so it runs wherever a trained module runs
(RLlib's EnvRunners, batched over vehicles; ``metagame.agents.arena``; a league's population).
Its rule is the Intelligent Driver Model (Treiber, Hennecke and Helbing 2000) in meta-action
space: from the nearest vehicle ahead in its lane (the observation's neighbours), or the stop
line when its light is not green or a foe holds the junction's conflict zone, IDM gives an
acceleration ``a``; the speed it aims at one step ahead, ``v + a dt`` (at most its desired
speed), becomes "faster" or "slower" when it lies half a target step or more away from the
current target speed, else "keep". Before a junction it also stops for crossing traffic that
would reach its lane within its critical gap (gap acceptance). Lane changes and turns are left
to the env's defaults.

The driver's parameters are those of the env's background traffic: ``driver`` names a
traffic mix of ``metagame.envs.traffic.drivers`` (``mild``, ``chaotic``, ``sumo``), and the
driver takes the mix's mean IDM parameters and plays a uniformly random legal action with the
mix's noise as probability, so a chaotic driver is both more aggressive and more erratic: the
heterogeneous drivers of iPLAN (Wu et al. 2023), for an ego vehicle to train against.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from metagame.agents.rllib.encoding import ObservationCodec, space_to_json
from metagame.agents.rllib.modules import (
    RAW_SPACE_KEY,
    CategoricalTorchRLModule,
    log_mask,
    split_mask,
)
from metagame.envs.traffic.drivers import (
    ACCEL,
    CRITICAL_GAP,
    DECEL,
    HEADWAY,
    LENGTH,
    MIN_GAP,
    TRAFFIC_MIX,
    TYPE_PARAMS,
    V0,
)
from metagame.envs.traffic.env import SPEED_SCALE, SPEED_STEP
from metagame.envs.traffic.network import LANE_WIDTH
from metagame.envs.traffic.observe import (
    EGO_FEATURES,
    FASTER,
    KEEP,
    NEIGHBOUR_FEATURES,
    NUM_ACTIONS,
    SLOWER,
)

DRIVERS = tuple(TRAFFIC_MIX)
# Own features (metagame.envs.traffic.observe.ego_features): speed and target as fractions of
# the limit, distance to the junction / obs_range, limit / SPEED_SCALE, light (red 0, yellow
# 0.5, green 1), a foe holding the conflict zone, the link leaves the network.
SPEED, TARGET, JUNCTION, LIMIT, LIGHT, FOE_HELD, LEAVES = 0, 1, 4, 5, 6, 8, 15
HORIZON = 1.0  # s, the env's default step (dt 0.1 x 10 substeps)
JUNCTION_SPAN = 20.0  # m past the stop line that crossing traffic is watched


def driver_parameters(driver: str) -> tuple[np.ndarray, float]:
    """A traffic mix's mean driver parameters (columns ``drivers.PARAM_NAMES``) and noise."""
    if driver not in TRAFFIC_MIX:
        raise ValueError(f"driver must be one of {list(DRIVERS)}, got {driver!r}")
    mix, noise = TRAFFIC_MIX[driver]
    return mix @ TYPE_PARAMS / mix.sum(), float(noise)


def idm_actions(x: torch.Tensor, k: int, obs_range: float, params: np.ndarray) -> torch.Tensor:
    """The rule's meta-action (KEEP, FASTER or SLOWER) for each row of observations ``x``
    (``(B, k * NEIGHBOUR_FEATURES + EGO_FEATURES)``, the mask removed)."""
    near = x[:, : k * NEIGHBOUR_FEATURES].reshape(-1, k, NEIGHBOUR_FEATURES)
    ego = x[:, k * NEIGHBOUR_FEATURES :]
    limit = ego[:, LIMIT] * SPEED_SCALE
    v = ego[:, SPEED] * limit
    ahead = (
        (near[..., 0] > 0) & (near[..., 1] > 0) & (near[..., 2].abs() * obs_range < LANE_WIDTH / 2)
    )
    gaps = torch.where(ahead, near[..., 1] * obs_range - params[LENGTH], torch.inf)
    gap, nearest = gaps.min(dim=-1)
    v_lead = v + near[..., 3].gather(1, nearest[:, None])[:, 0] * SPEED_SCALE
    line = ego[:, JUNCTION] * obs_range
    stop = (
        (ego[:, LIGHT] < 0.75) | (ego[:, FOE_HELD] > 0) | _crossing(near, line, obs_range, params)
    )
    stop = stop & (ego[:, LEAVES] < 0.5)
    at_line = stop & (line < gap)
    gap = torch.where(at_line, line, gap)
    v_lead = torch.where(at_line, torch.zeros_like(v_lead), v_lead)
    v0 = params[V0] * limit
    a, b = params[ACCEL], params[DECEL]
    s_star = params[MIN_GAP] + torch.clamp(
        v * params[HEADWAY] + v * (v - v_lead) / (2 * np.sqrt(a * b)), min=0.0
    )
    interaction = torch.where(
        torch.isfinite(gap), (s_star / torch.clamp(gap, min=0.1)) ** 2, torch.zeros_like(gap)
    )
    accel = a * (1 - (v / torch.clamp(v0, min=1e-6)) ** 4 - interaction)
    aim = torch.minimum(torch.clamp(v + accel * HORIZON, min=0.0), v0) / torch.clamp(
        limit, min=1e-6
    )
    target = ego[:, TARGET]
    actions = torch.full_like(target, KEEP, dtype=torch.long)
    actions = torch.where(aim >= target + SPEED_STEP / 2, FASTER, actions)
    return torch.where(aim <= target - SPEED_STEP / 2, SLOWER, actions)


def _crossing(near: torch.Tensor, line: torch.Tensor, obs_range: float, params: np.ndarray):
    """Whether a vehicle crossing ahead (beside its lane, closing in sideways, before the
    junction's far side) reaches its lane within the driver's critical gap: gap acceptance
    at the junction (the background drivers reserve their way instead)."""
    forward, left = near[..., 1] * obs_range, near[..., 2] * obs_range
    sideways = near[..., 4] * SPEED_SCALE
    closing = (left * sideways < 0) & (left.abs() >= LANE_WIDTH / 2)
    soon = left.abs() < params[CRITICAL_GAP] * sideways.abs()
    near_junction = (forward > -params[LENGTH]) & (forward < line[:, None] + JUNCTION_SPAN)
    return (near[..., 0] > 0).logical_and(closing & soon & near_junction).any(dim=-1) & (line > 1.0)


class TrafficDriverRLModule(CategoricalTorchRLModule):
    """A fixed rule-based driver (see the module docstring); no trainable parameters.

    ``model_config``: ``driver`` (a traffic mix) and ``obs_range`` (the env's).
    """

    def setup(self) -> None:
        cfg = self.model_config or {}
        n = getattr(self.action_space, "n", None)
        if n != NUM_ACTIONS or not isinstance(self.observation_space, gym.spaces.Box):
            raise ValueError(
                "TrafficDriverRLModule drives traffic vehicles (flat observations, "
                f"{NUM_ACTIONS} meta-actions), got {self.observation_space} and {self.action_space}"
            )
        width = int(np.prod(self.observation_space.shape)) - n - EGO_FEATURES
        if width < NEIGHBOUR_FEATURES or width % NEIGHBOUR_FEATURES:
            raise ValueError(f"TrafficDriverRLModule: not a traffic vehicle observation: {width}")
        self.k = width // NEIGHBOUR_FEATURES
        self.params, self.noise = driver_parameters(cfg.get("driver"))
        self.obs_range = float(cfg.get("obs_range", 100.0))
        self._dummy = torch.nn.Parameter(torch.zeros(1), requires_grad=False)

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        mask, batch = split_mask(batch, NUM_ACTIONS)
        mask = mask.float()
        choice = idm_actions(batch[Columns.OBS].float(), self.k, self.obs_range, self.params)
        legal = mask.gather(1, choice[:, None])[:, 0] > 0
        choice = torch.where(legal, choice, KEEP)
        rule = torch.nn.functional.one_hot(choice, NUM_ACTIONS).float()
        uniform = mask / mask.sum(dim=-1, keepdim=True)
        probs = (1 - self.noise) * rule + self.noise * uniform
        return {Columns.ACTION_DIST_INPUTS: torch.log(probs) + log_mask(mask)}


def driver_spec(driver: str, env_kwargs: dict[str, Any] | None = None, agent: str | None = None):
    """The RLModule spec of a ``driver`` (a traffic mix) for a vehicle agent of
    ``make("traffic", **env_kwargs)`` (its first vehicle by default)."""
    from metagame.envs import make

    driver_parameters(driver)
    env = make("traffic", **(env_kwargs or {}))
    try:
        agent = agent or next(iter(env.unwrapped.vehicle_agents), None)
        if agent not in env.unwrapped.vehicle_agents:
            raise ValueError(f"a traffic driver drives a vehicle agent, got {agent!r}")
        raw, actions = env.observation_space(agent), env.action_space(agent)
        obs_range = float(env.unwrapped.obs_range)
    finally:
        env.close()
    return RLModuleSpec(
        module_class=TrafficDriverRLModule,
        observation_space=ObservationCodec(raw).space,
        action_space=actions,
        model_config={"driver": driver, "obs_range": obs_range, RAW_SPACE_KEY: space_to_json(raw)},
    )
