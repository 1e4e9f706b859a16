"""Training learned traffic drivers: PPO for the policy, supervision for the intent estimate.

One :class:`~metagame.agents.traffic_drivers.learned_driver.LearnedDriverPolicy` network drives
every controlled vehicle (independent learners with parameter sharing) in each of the traffic
settings (scenario and traffic mix) in turn. Its reward is the env's own: progress at the
speed limit, the arrival bonus, the collision penalty; no shaping. Each iteration plays
``episodes`` sampled episodes per setting, computes GAE (Schulman et al. 2016) along each
vehicle's trip (cut at its arrival or crash, bootstrapped from its value when the episode is
truncated) and runs PPO's clipped epochs (:func:`metagame.agents.follow.training.ppo_epochs`).
For the intent driver, the :class:`~.intent.IntentNet` is fitted meanwhile by cross-entropy to
the true types of the background vehicles seen in the rollouts (the last ``INTENT_BUFFER``
histories), as iPLAN's intent inference is learned from behaviour.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from metagame.agents.follow.network import FollowerNet
from metagame.agents.follow.training import PPOSettings, gae, ppo_epochs
from metagame.agents.policy import choose
from metagame.agents.traffic_drivers.intent import IntentNet, intent_step, labelled_slots
from metagame.agents.traffic_drivers.learned_driver import OPTIONS, LearnedDriverPolicy, input_size
from metagame.envs import make
from metagame.envs.traffic.observe import NUM_ACTIONS

SETTINGS = (
    ("intersection", "mild"),
    ("intersection", "chaotic"),
    ("highway", "mild"),
    ("highway", "chaotic"),
)
ENV_KWARGS = {"num_controlled": 4, "max_steps": 100, "k_nearest": 5}
INTENT_BUFFER = 30_000


@dataclass
class DriverSettings(PPOSettings):
    """PPO hyperparameters of the traffic drivers (``episodes`` per setting per iteration)."""

    gamma: float = 0.98
    minibatch: int = 256
    hidden: int = 64
    episodes: int = 2
    intent_lr: float = 3e-3
    env_kwargs: dict = field(default_factory=lambda: dict(ENV_KWARGS))


def new_driver(features: str, k: int, settings: DriverSettings, seed: int) -> LearnedDriverPolicy:
    """An untrained driver (sampled actions) with freshly initialised networks."""
    torch.manual_seed(seed)
    actions = len(OPTIONS) if features == "intent" else NUM_ACTIONS
    net = FollowerNet(input_size(features, k), 1, actions, settings.hidden)
    intent = IntentNet() if features == "intent" else None
    return LearnedDriverPolicy(net, intent, features, k, greedy=False, seed=seed, id=features)


def rollout(env, policy: LearnedDriverPolicy, seed: int, labelled: list) -> list[dict]:
    """One sampled episode; each controlled vehicle's trip as arrays (``x``, ``mask``, ``a``,
    ``logp``, ``v``, ``r``, and ``end``: the value bootstrapped after its last step). Appends
    ``(histories, true types)`` of the background vehicles at each step to ``labelled``."""
    observations, _ = env.reset(seed=seed)
    policy.bind(env)
    trips: dict[str, dict[str, list]] = {}
    while env.agents:
        agents = list(env.agents)
        obs = np.stack([observations[a]["observation"] for a in agents])
        mask = policy.option_mask(np.stack([observations[a]["action_mask"] for a in agents]))
        x = policy.inputs(obs)
        if policy.intent is not None:
            slots, kinds = labelled_slots(env)
            labelled.append((policy.history.features(slots), kinds))
        probs, values = policy.distributions(x, mask)
        chosen = choose(probs, policy.rng)
        actions = policy.execute(chosen)
        observations, rewards, terminations, truncations, _ = env.step(
            dict(zip(agents, actions.tolist()))
        )
        for n, agent in enumerate(agents):
            trip = trips.setdefault(agent, {k: [] for k in ("x", "mask", "a", "logp", "v", "r")})
            for key, value in (
                ("x", x[n]),
                ("mask", mask[n]),
                ("a", chosen[n]),
                ("logp", np.log(probs[n, chosen[n]])),
                ("v", values[n]),
                ("r", rewards[agent]),
            ):
                trip[key].append(value)
            if terminations[agent] or truncations[agent]:
                trip["end"] = 0.0 if terminations[agent] else float(values[n])
    return [{k: np.asarray(v) for k, v in t.items()} for t in trips.values() if "end" in t]


def advantages(trips: list[dict], settings: DriverSettings) -> tuple[np.ndarray, np.ndarray]:
    """GAE advantages and returns of every step of ``trips``, concatenated in order."""
    out = [
        gae(t["r"][:, None], t["v"][:, None], np.array([t["end"]]), settings.gamma, settings.lam)
        for t in trips
    ]
    return np.concatenate([a[:, 0] for a, _ in out]), np.concatenate([r[:, 0] for _, r in out])


def train_driver(
    features: str = "intent",
    settings: DriverSettings | None = None,
    iterations: int = 100,
    max_seconds: float | None = None,
    seed: int = 0,
    scenarios=SETTINGS,
    log=None,
) -> LearnedDriverPolicy:
    """Trains a driver from scratch (``features``: ``"intent"``, the learned driver, or
    ``"env"``, independent PPO) on ``scenarios`` (pairs of scenario and traffic mix) and
    returns it greedy. Stops after ``iterations`` or ``max_seconds``, whichever comes first;
    ``log`` (e.g. ``print``) receives one line per iteration."""
    settings = settings or DriverSettings()
    torch.set_num_threads(1)  # small networks: one thread is fastest, and fair on shared CPUs
    rng = np.random.default_rng(seed)
    kwargs = dict(settings.env_kwargs)
    policy = new_driver(features, kwargs.get("k_nearest", 5), settings, seed)
    envs = [make("traffic", scenario=s, traffic=t, **kwargs) for s, t in scenarios]
    optimizer = torch.optim.Adam(policy.net.parameters(), lr=settings.lr)
    intent_optimizer = (
        torch.optim.Adam(policy.intent.parameters(), lr=settings.intent_lr)
        if policy.intent is not None
        else None
    )
    buffer: list = []
    start, episode = time.perf_counter(), 0
    for it in range(iterations):
        trips, labelled = [], []
        for env in envs:
            for _ in range(settings.episodes):
                trips += rollout(env, policy, seed * 100_000 + episode, labelled)
                episode += 1
        adv, ret = advantages(trips, settings)
        batch = {k: np.concatenate([t[k] for t in trips]) for k in ("x", "mask", "a", "logp")}
        policy.net.train()
        entropy = ppo_epochs(
            policy.net, optimizer, batch["x"], batch["mask"], batch["a"], batch["logp"], adv, ret,
            settings, rng,
        )  # fmt: skip
        policy.net.eval()
        accuracy = float("nan")
        if policy.intent is not None and labelled:
            buffer = (buffer + labelled)[-INTENT_BUFFER // 20 :]
            x = np.concatenate([h for h, _ in buffer])[-INTENT_BUFFER:]
            y = np.concatenate([k for _, k in buffer])[-INTENT_BUFFER:]
            policy.intent.train()
            accuracy = intent_step(policy.intent, intent_optimizer, x, y, rng)
            policy.intent.eval()
        if log is not None:
            returns = np.mean([t["r"].sum() for t in trips])
            log(
                f"iteration {it + 1}: return/vehicle {returns:.3f} entropy {entropy:.3f} "
                f"intent accuracy {accuracy:.3f} elapsed {time.perf_counter() - start:.0f}s"
            )
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
    policy.greedy = True
    policy.id = "learned_driver" if features == "intent" else "independent_ppo"
    return policy
