"""Training a :class:`FollowerNet` with PPO (Schulman et al. 2017) on lifelong MAPF.

One network is shared by all agents (independent learners with parameter sharing, as in
Learn to Follow). Rollouts step a few lifelong :class:`~metagame.envs.mapf.env.MAPFEnv` s with
``step_arrays``, all agents at once; advantages are GAE (Schulman et al. 2016) per agent.

Rewards: with ``features="path"`` (Learn to Follow) an agent earns 1 for each step that takes it
onto the next cell of its planned path, and nothing else: no reward shaping beyond following
(Skrynnik et al., AAAI 2024); with ``features="env"`` (the independent-PPO baseline) it earns
the env's reward, 1 per goal reached.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from metagame.agents.follow.follower import FollowerPolicy
from metagame.agents.follow.network import FollowerNet
from metagame.agents.follow.observation import NUM_CHANNELS
from metagame.agents.policy import choose
from metagame.envs.mapf.core import NUM_CHANNELS as ENV_CHANNELS
from metagame.envs.mapf.env import MAPFEnv

TRAINING_MAPS = ["random-32-32-20", "random-32-32-10"]
# how the shipped weights (metagame/data/follow) were trained: 64 agents on TRAINING_MAPS, seed 0
FOLLOWER_RECIPE = {"planner": {"weight": 0.3}, "shield": True, "max_seconds": 600.0}
BASELINE_RECIPE = {"max_seconds": 600.0}


@dataclass
class PPOSettings:
    """PPO hyperparameters (the defaults are the ones the shipped weights used)."""

    lr: float = 3e-4
    gamma: float = 0.95
    lam: float = 0.95
    clip: float = 0.2
    epochs: int = 4
    minibatch: int = 4096
    entropy: float = 0.01
    value: float = 0.5
    rollout: int = 64
    hidden: int = 128


def gae(rewards, values, last_value, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and returns ``(T, N)`` from rewards and values ``(T, N)``; the rollout is cut
    (not terminated) at its end, where ``last_value`` bootstraps."""
    advantages = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[1])
    for t in range(len(rewards) - 1, -1, -1):
        following = last_value if t == len(rewards) - 1 else values[t + 1]
        delta = rewards[t] + gamma * following - values[t]
        running = delta + gamma * lam * running
        advantages[t] = running
    return advantages, advantages + values


def team_arrays(env: MAPFEnv, observations: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 4, S, S)`` observations and ``(n, A)`` masks of every agent from a reset's dict."""
    obs = np.stack([observations[a]["observation"] for a in env.possible_agents])
    mask = np.stack([observations[a]["action_mask"] for a in env.possible_agents])
    return obs, mask


def _reward(policy: FollowerPolicy, env: MAPFEnv, env_reward: np.ndarray) -> np.ndarray:
    if policy.features == "env":
        return env_reward
    return (env.topology.vertices(env.positions) == policy.ahead[:, 0]).astype(np.float64)


class Workers:
    """Lifelong envs, each driven by its own policy (its own planner) over the shared net."""

    def __init__(
        self,
        net: FollowerNet,
        features: str,
        planner,
        envs: list[MAPFEnv],
        seed: int,
        shield: bool = False,
    ):
        self.envs = envs
        self.policies = [
            FollowerPolicy(net, features, planner, greedy=False, seed=seed + k, shield=shield)
            for k in range(len(envs))
        ]
        self.seed = seed
        self.episodes = 0
        self.state = [self._reset(k) for k in range(len(envs))]

    def _reset(self, k: int):
        env, policy = self.envs[k], self.policies[k]
        observations, _ = env.reset(seed=self.seed * 1000 + self.episodes)
        self.episodes += 1
        policy.bind(env)
        obs, mask = team_arrays(env, observations)
        return policy.inputs(obs), mask

    def rollout(self, steps: int) -> dict[str, np.ndarray]:
        """``steps`` sampled steps of every env; arrays ``(T, E * n, ...)`` and the values of
        the observations that follow (``last_value``)."""
        out: dict[str, list] = {k: [] for k in ("x", "mask", "a", "logp", "v", "r")}
        for _ in range(steps):
            row: dict[str, list] = {k: [] for k in out}
            for k, (env, policy) in enumerate(zip(self.envs, self.policies)):
                x, mask = self.state[k]
                probs, value = policy.distributions(x, mask)
                action = choose(probs, policy.rng)
                obs, next_mask, env_reward, _, truncated = env.step_arrays(policy.execute(action))
                row["r"].append(_reward(policy, env, env_reward))
                for key, val in (
                    ("x", x),
                    ("mask", mask),
                    ("a", action),
                    ("logp", np.log(probs[np.arange(len(action)), action])),
                    ("v", value),
                ):
                    row[key].append(val)
                self.state[k] = self._reset(k) if truncated else (policy.inputs(obs), next_mask)
            for key in out:
                out[key].append(np.concatenate(row[key]))
        arrays = {key: np.stack(val) for key, val in out.items()}
        last = [p.distributions(x, m)[1] for p, (x, m) in zip(self.policies, self.state)]
        arrays["last_value"] = np.concatenate(last)
        return arrays


def ppo_update(net: FollowerNet, optimizer, batch: dict, settings: PPOSettings, rng) -> float:
    """PPO's clipped surrogate, value and entropy losses over shuffled minibatches; returns the
    mean policy entropy of the last epoch."""
    advantages, returns = gae(
        batch["r"], batch["v"], batch["last_value"], settings.gamma, settings.lam
    )
    return ppo_epochs(
        net, optimizer, batch["x"], batch["mask"], batch["a"], batch["logp"], advantages, returns,
        settings, rng,
    )  # fmt: skip


def ppo_epochs(net, optimizer, x, mask, a, logp, advantages, returns, settings: PPOSettings, rng):
    """``settings.epochs`` passes of PPO's clipped surrogate, value and entropy losses over
    shuffled minibatches of samples (leading axes flattened; advantages normalised); ``net(x,
    mask)`` gives masked logits and values. Returns the mean policy entropy of the last epoch."""
    x = np.asarray(x)
    flat = {
        "x": torch.from_numpy(x.reshape(-1, *x.shape[np.ndim(a) :])),
        "mask": torch.from_numpy(np.asarray(mask).reshape(-1, np.shape(mask)[-1])),
        "a": torch.from_numpy(np.asarray(a).reshape(-1)),
        "logp": torch.from_numpy(np.asarray(logp).reshape(-1)).float(),
        "adv": torch.from_numpy(np.asarray(advantages).reshape(-1)).float(),
        "ret": torch.from_numpy(np.asarray(returns).reshape(-1)).float(),
    }
    flat["adv"] = (flat["adv"] - flat["adv"].mean()) / (flat["adv"].std() + 1e-8)
    size = len(flat["a"])
    entropy = 0.0
    for _ in range(settings.epochs):
        order = torch.from_numpy(rng.permutation(size))
        entropies = []
        for start in range(0, size, settings.minibatch):
            idx = order[start : start + settings.minibatch]
            logits, value = net(flat["x"][idx], flat["mask"][idx])
            dist = torch.distributions.Categorical(logits=logits)
            ratio = torch.exp(dist.log_prob(flat["a"][idx]) - flat["logp"][idx])
            adv = flat["adv"][idx]
            clipped = torch.clamp(ratio, 1 - settings.clip, 1 + settings.clip)
            policy_loss = -torch.min(ratio * adv, clipped * adv).mean()
            value_loss = (value - flat["ret"][idx]).pow(2).mean()
            ent = dist.entropy().mean()
            loss = policy_loss + settings.value * value_loss - settings.entropy * ent
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 0.5)
            optimizer.step()
            entropies.append(float(ent.detach()))
        entropy = float(np.mean(entropies))
    return entropy


def train_follower(
    maps: list,
    num_agents: int = 64,
    features: str = "path",
    iterations: int = 100,
    seed: int = 0,
    settings: PPOSettings | None = None,
    max_seconds: float | None = None,
    max_steps: int = 256,
    obs_radius: int = 5,
    planner: dict | None = None,
    shield: bool = False,
    log=None,
) -> FollowerPolicy:
    """Trains a follower (or, ``features="env"``, the independent-PPO baseline) from scratch on
    lifelong MAPF over ``maps`` (one env each) and returns it as a greedy policy.

    ``planner`` holds :class:`CongestionPlanner` settings (``weight``, ``decay``, ``horizon``)
    for ``features="path"``; ``shield`` trains (and returns) the policy with the PIBT collision
    shield in the loop (:meth:`FollowerPolicy.execute`). Stops after ``iterations`` PPO updates
    or ``max_seconds``, whichever comes first; ``log`` (e.g. ``print``) receives one line per
    iteration.
    """
    settings = settings or PPOSettings()
    torch.set_num_threads(1)  # small networks: one thread is fastest, and fair on shared CPUs
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    envs = [
        MAPFEnv(m, num_agents, "restart", obs_radius, max_steps, seed=seed + k)
        for k, m in enumerate(maps)
    ]
    channels = NUM_CHANNELS if features == "path" else ENV_CHANNELS
    net = FollowerNet(channels, 2 * obs_radius + 1, envs[0].topology.num_actions, settings.hidden)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    planner = None if features == "env" else dict(planner or {})
    workers = Workers(net, features, planner, envs, seed, shield)
    start = time.perf_counter()
    for it in range(iterations):
        net.eval()
        batch = workers.rollout(settings.rollout)
        net.train()
        entropy = ppo_update(net, optimizer, batch, settings, rng)
        if log is not None:
            log(
                f"iteration {it + 1}: reward/agent-step {batch['r'].mean():.3f} "
                f"entropy {entropy:.3f} elapsed {time.perf_counter() - start:.0f}s"
            )
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
    return FollowerPolicy(
        net.eval(),
        features,
        planner,
        greedy=True,
        seed=seed,
        id="follower" if features == "path" else "independent_ppo",
        shield=shield,
    )
