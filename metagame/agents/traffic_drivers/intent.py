"""Intent inference: a neighbour's driver type from its observed kinematics.

iPLAN (Wu et al., "Intent-Aware Planning in Heterogeneous Traffic via Distributed Multi-Agent
RL", CoRL 2023) lets each vehicle estimate its neighbours' intents from their recent behaviour
and plan with the estimate. Here the intent is the neighbour's driver type of the traffic env
(``metagame.envs.traffic.drivers``: cautious, normal, aggressive), which sets its desired
speed, headway, acceleration and critical gap.

- :class:`KinematicsHistory` records what a vehicle sees of each other vehicle, by slot: its
  speed as a fraction of its road's limit and its speed change per second, over the last
  ``HISTORY`` steps (restarted when a slot takes a new vehicle);
- :func:`nearest_slots` names the vehicles behind an observation's neighbour rows (the ``k``
  nearest within ``obs_range``, by distance then slot, as ``observe.neighbour_features``
  picks them), so that each row can be given its vehicle's history;
- :class:`IntentNet` maps a history to type probabilities; it is trained by supervision from
  the env's true types (``core.KIND``) of the background vehicles (:func:`intent_step`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from metagame.envs.traffic.core import ACTIVE, AGENT, KIND, LANE, SPEED, STATUS, UID

TYPES = ("cautious", "normal", "aggressive")  # the env's DRIVER_TYPES[:3]
HISTORY = 6  # steps of kinematics per neighbour
ACCEL_SCALE = 3.0  # m/s^2, normalises speed changes
INTENT_FEATURES = 2 * HISTORY + 1  # speed fractions, speed changes, steps seen / HISTORY


class KinematicsHistory:
    """Per slot of one env, the last ``HISTORY`` speed fractions and speed changes (see the
    module docstring); ``update`` once per env step."""

    def __init__(self) -> None:
        self.step_key: tuple[int, int] | None = None
        self.fraction = np.zeros((HISTORY, 0))
        self.change = np.zeros((HISTORY, 0))
        self.speed = np.zeros(0)
        self.uid = np.zeros(0, dtype=np.int64)
        self.seen = np.zeros(0, dtype=np.int64)

    def update(self, env) -> None:
        """Records the env's current step (once: later calls at the same step do nothing)."""
        key = (id(env), int(env.steps))
        if key == self.step_key:
            return
        self.step_key = key
        m = env.ints.shape[1]
        if self.uid.shape[0] != m:
            self._grow(m)
        active = env.ints[STATUS] == ACTIVE
        lane = np.where(active, env.ints[LANE], 0)
        limit = env.net.link_speed[env.net.lane_link[lane]]
        speed = np.where(active, env.floats[SPEED], 0.0)
        fresh = active & (env.ints[UID] != self.uid)
        self.seen[fresh] = 0
        self.speed[fresh] = speed[fresh]
        change = (speed - self.speed) / env.step_time / ACCEL_SCALE
        self.fraction = np.roll(self.fraction, -1, axis=0)
        self.change = np.roll(self.change, -1, axis=0)
        self.fraction[-1], self.change[-1] = speed / limit, change
        self.fraction[:, fresh] = self.fraction[-1, fresh]  # no past yet: the present repeated
        self.change[:, fresh] = 0.0
        self.speed = speed
        self.uid = np.where(active, env.ints[UID], -1)
        self.seen = np.where(active, np.minimum(self.seen + 1, HISTORY), 0)

    def _grow(self, m: int) -> None:
        old = self.uid.shape[0]
        grow = max(m - old, 0)
        self.fraction = np.pad(self.fraction, ((0, 0), (0, grow)))[:, :m]
        self.change = np.pad(self.change, ((0, 0), (0, grow)))[:, :m]
        self.speed = np.pad(self.speed, (0, grow))[:m]
        self.uid = np.pad(self.uid, (0, grow), constant_values=-1)[:m]
        self.seen = np.pad(self.seen, (0, grow))[:m]

    def features(self, slots: np.ndarray) -> np.ndarray:
        """``(len(slots), INTENT_FEATURES)`` float32 histories of ``slots``."""
        return np.concatenate(
            [self.fraction[:, slots].T, self.change[:, slots].T, self.seen[slots, None] / HISTORY],
            axis=1,
        ).astype(np.float32)


def nearest_slots(env, egos: np.ndarray, k: int) -> np.ndarray:
    """``(len(egos), k)`` slots of each ego's ``k`` nearest active vehicles within the env's
    ``obs_range`` (by distance, then slot; -1 where there are fewer): the vehicles of its
    observation's neighbour rows, in order."""
    idx, xy, _ = env.world_positions()
    out = np.full((len(egos), k), -1, dtype=np.int64)
    if len(egos) == 0:
        return out
    rows = np.searchsorted(idx, egos)
    dist = np.hypot(*(xy[None, :, :] - xy[rows, None, :]).transpose(2, 0, 1))
    dist[np.arange(len(egos)), rows] = np.inf
    dist[dist > env.obs_range] = np.inf
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]  # idx ascends: ties go by slot
    near = np.take_along_axis(dist, order, axis=1)
    out[:, : order.shape[1]] = np.where(np.isfinite(near), idx[order], -1)
    return out


def labelled_slots(env) -> tuple[np.ndarray, np.ndarray]:
    """The background vehicles on the road and their true driver types (the supervision)."""
    slots = np.flatnonzero((env.ints[STATUS] == ACTIVE) & (env.ints[AGENT] < 0))
    return slots, env.ints[KIND, slots].astype(np.int64)


class IntentNet(nn.Module):
    """History -> logits over ``TYPES`` (one hidden ReLU layer)."""

    def __init__(self, hidden: int = 32):
        super().__init__()
        self.hidden = hidden
        self.layers = nn.Sequential(
            nn.Linear(INTENT_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, len(TYPES))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Type probabilities ``(n, 3)`` float32 for histories ``x``."""
        with torch.no_grad():
            return torch.softmax(self(torch.from_numpy(x)), dim=-1).numpy()


def intent_step(net: IntentNet, optimizer, x: np.ndarray, kinds: np.ndarray, rng, epochs=2):
    """Cross-entropy epochs on histories ``x`` labelled with true types ``kinds``; returns the
    accuracy of the net's argmax on them before the update."""
    xs, ys = torch.from_numpy(x), torch.from_numpy(kinds)
    with torch.no_grad():
        accuracy = float((net(xs).argmax(dim=-1) == ys).float().mean())
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(ys)))
        for start in range(0, len(ys), 1024):
            idx = order[start : start + 1024]
            loss = nn.functional.cross_entropy(net(xs[idx]), ys[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return accuracy
