"""Learned MAPF agents as a policy for :class:`~metagame.envs.mapf.env.MAPFEnv`.

:class:`FollowerPolicy` runs a :class:`FollowerNet` for every agent on its local window:

- ``features="path"``: Learn to Follow (Skrynnik et al., AAAI 2024): each agent's
  congestion-aware path (:class:`CongestionPlanner`, replanned every step) is drawn into its
  window (:func:`follower_observation`) and the network follows it;
- ``features="env"``: the env's own observation (obstacles, agents, goal, shortest-path hint),
  i.e. independent PPO with parameter sharing, the learnable baseline.

With ``shield=True`` the network's choice is not sent to the env as is: each agent's chosen
vertex becomes the one it tries first in a lifelong PIBT step with swap
(:meth:`~metagame.agents.planners.PlannerPolicy.pibt_step`; priority inheritance acts between
neighbouring agents, Okumura et al., AIJ 2022, and the swap operation looks along the corridor
they stand in), the collision shield of
Veerapaneni, Wang, Li and Likhachev ("Improving Learnt Local MAPF Policies with Heuristic
Search", ICAPS 2024). Without it two agents that want each other's cell, or the same cell,
both wait under the env's rule, and a greedy (argmax) follower sees the same window again
next step and waits forever; with it the conflicting agents' priorities decide who goes, and
the one that yields steps aside, so greedy execution does not deadlock.

Like :class:`~metagame.agents.planners.PlannerPolicy` it binds to the env (``play`` calls
``bind`` after each reset) to read each agent's own position and goal; the planner's heat maps
hold only what each agent has seen. ``act_batch`` takes the observations of every live agent in
``env.agents`` order and returns their actions; ``actions(obs, mask)`` is the array form over
all agents (rows of agents off the map are ignored).

Checkpoints (written by :func:`metagame.agents.policy.save_policy`, read by it or by
:func:`load_follower`) are a ``policy.json`` (kind ``"follower"``, the network's sizes, the
features, planner settings and shield) and ``weights.pt`` (a tensor state dict).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metagame.agents.follow.congestion import CongestionPlanner
from metagame.agents.follow.network import FollowerNet
from metagame.agents.follow.observation import follower_observation
from metagame.agents.planners.joint_policy import PlannerPolicy
from metagame.agents.policy import (
    METADATA_FILE,
    WEIGHTS_FILE,
    choose,
    load_weights,
    split_observation,
)
from metagame.agents.team import TeamPolicy

FEATURES = ("path", "env")
PLANNER_KEYS = ("weight", "decay", "horizon")


class FollowerPolicy(TeamPolicy):
    """A shared follower network acting for every agent of a bound MAPF env."""

    def __init__(
        self,
        net: FollowerNet,
        features: str = "path",
        planner: dict[str, Any] | None = None,
        greedy: bool = True,
        seed: int | None = 0,
        id: str = "follower",
        shield: bool = False,
    ):
        if features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
        planner = dict(planner or {})
        unknown = sorted(set(planner) - set(PLANNER_KEYS))
        if unknown:
            raise ValueError(f"unknown planner settings: {', '.join(unknown)}")
        self.net = net.eval()
        self.features = features
        self.planner_settings = planner
        self.greedy = greedy
        self.seed = seed
        self.id = id
        self.shield = bool(shield)
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        seed = self.seed if seed is None else seed
        self.rng = np.random.default_rng(seed)
        self.pibt = PlannerPolicy("pibt", seed=seed) if self.shield else None
        self.planner: CongestionPlanner | None = None
        self._step = None

    # --- binding and the Policy interface ---

    def bind(self, env) -> None:
        """The env whose agents this policy drives (``play`` calls it after each reset)."""
        self._check_env(env)
        size = 2 * env.obs_radius + 1
        if size != self.net.shape["size"]:
            raise ValueError(
                f"FollowerPolicy: the network sees {self.net.shape['size']}-wide windows, the env "
                f"observes {size} (obs_radius={env.obs_radius})"
            )
        super().bind(env)
        self.planner = None
        if self.features == "path":
            self.planner = CongestionPlanner(
                env.topology, len(env.possible_agents), env.obs_radius, **self.planner_settings
            )

    def _team_actions(self, env, observations, action_masks) -> dict[str, int]:
        masks = [None] * len(observations) if action_masks is None else action_masks
        pairs = [split_observation(o, m) for o, m in zip(observations, masks)]
        n = len(env.possible_agents)
        obs = np.zeros((n, *np.shape(pairs[0][0])), dtype=np.float32)
        mask = np.ones((n, env.action_space(env.agents[0]).n), dtype=np.int8)
        rows = [int(a.rsplit("_", 1)[1]) for a in env.agents]
        obs[rows] = np.stack([o for o, _ in pairs])
        mask[rows] = np.stack([m for _, m in pairs])
        chosen = self.actions(obs, mask)
        return {a: int(chosen[row]) for a, row in zip(env.agents, rows)}

    def inputs(self, env_obs: np.ndarray) -> np.ndarray:
        """The network's input for every agent of the bound env (advances the planner)."""
        if self.planner is None:
            return env_obs
        env = self._bound()
        topo = env.topology
        position, goal, active = topo.vertices(env.positions), topo.vertices(env.goals), env.active
        ahead = self.planner.step(position, goal, active)
        self.ahead = ahead
        return follower_observation(env_obs, ahead, position, active, topo.cells, env.obs_radius)

    def distributions(self, x: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Action probabilities and values of the network for inputs ``x``."""
        with torch.no_grad():
            logits, value = self.net(torch.from_numpy(x), torch.from_numpy(mask))
            probs = torch.softmax(logits.double(), dim=-1).numpy()
        return probs, value.numpy()

    def actions(self, env_obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``(n,)`` actions for all agents from the env's ``(n, 4, S, S)`` observations."""
        probs, _ = self.distributions(self.inputs(env_obs), mask)
        return self.execute(choose(probs, None if self.greedy else self.rng))

    def execute(self, chosen: np.ndarray) -> np.ndarray:
        """The actions sent to the env for the network's ``chosen`` ones: the same without the
        shield, else each agent's move in a PIBT step that tries its chosen vertex first (its
        own vertex if it stands on its goal: the follower sees no path there)."""
        if self.pibt is None:
            return chosen
        env = self._bound()
        topo = env.topology
        position, goal = topo.vertices(env.positions), topo.vertices(env.goals)
        target = topo.moves[position, chosen]
        prefer = np.where((target < 0) | (position == goal), position, target)
        live = np.flatnonzero(env.active)
        nxt = self.pibt.pibt_step(topo, position, goal, live, prefer)
        return (topo.moves[position] == nxt[:, None]).argmax(axis=1)

    kind = "follower"

    def _checkpoint(self, path: Path) -> dict[str, Any]:
        """Writes the network's weights into ``path``; returns the fields that rebuild it."""
        path.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
        torch.save(state, path / (WEIGHTS_FILE + ".tmp"))
        (path / (WEIGHTS_FILE + ".tmp")).replace(path / WEIGHTS_FILE)
        return {
            "greedy": self.greedy,
            "features": self.features,
            "planner": self.planner_settings,
            "shield": self.shield,
            "network": self.net.shape,
        }

    @classmethod
    def _from_checkpoint(cls, meta: dict[str, Any], meta_file: Path, seed, greedy, id: str):
        return follower_from_metadata(meta_file, meta, greedy, seed)


# --- checkpoints ---
SHIPPED = ("follower", "independent_ppo")


def shipped(name: str = "follower", greedy: bool | None = None) -> FollowerPolicy:
    """A policy whose weights ship with metagame (``metagame/data/follow/<name>``): the
    Learn-to-Follow ``"follower"`` or the ``"independent_ppo"`` baseline."""
    if name not in SHIPPED:
        raise ValueError(f"no shipped follower {name!r}; choose one of {', '.join(SHIPPED)}")
    return load_follower(Path(__file__).resolve().parents[2] / "data" / "follow" / name, greedy)


def load_follower(
    path: str | Path, greedy: bool | None = None, seed: int | None = None
) -> FollowerPolicy:
    """Loads a follower checkpoint (written by ``save_policy``); a malformed one raises ValueError
    naming the file and the key. Nothing is unpickled."""
    meta_file = Path(path) / METADATA_FILE
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"follower checkpoint {meta_file} is unreadable: {err}") from None
    if not isinstance(meta, dict) or meta.get("kind") != "follower":
        raise ValueError(f"follower checkpoint {meta_file}: key 'kind' must be 'follower'")
    return follower_from_metadata(meta_file, meta, greedy, seed)


def follower_from_metadata(
    meta_file: Path, meta: dict[str, Any], greedy: bool | None, seed: int | None
) -> FollowerPolicy:
    """Builds the policy a parsed ``policy.json`` describes (``load_policy`` calls this)."""

    def field(key: str, kind: Any) -> Any:
        value = meta.get(key)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ValueError(f"follower checkpoint {meta_file}: key {key!r} is missing or wrong")
        return value

    network, planner = field("network", dict), field("planner", dict)
    shield = meta.get("shield", False)  # checkpoints written before the shield have none
    if not isinstance(shield, bool):
        raise ValueError(f"follower checkpoint {meta_file}: key 'shield' must be true or false")
    try:
        net = FollowerNet(**network)
        policy = FollowerPolicy(
            net,
            field("features", str),
            planner,
            greedy=field("greedy", bool) if greedy is None else greedy,
            seed=(meta.get("seed") if seed is None else seed),
            id=field("id", str),
            shield=shield,
        )
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"follower checkpoint {meta_file}: keys 'network'/'planner': {err}"
        ) from None
    load_weights(
        meta_file.parent / WEIGHTS_FILE, "follower checkpoint weights", net.load_state_dict
    )
    return policy
