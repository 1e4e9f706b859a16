"""Learned lifelong-MAPF agents against PIBT: Learn to Follow and independent PPO.

Run: ``.venv/bin/python benchmarks/mapf_learned.py [--episodes 5] [--steps 256] [--train]
[--maps M ...]`` (one process per map runs them side by side).

Lifelong MAPF (``on_target="restart"``) with 64 and 128 agents on ``random-32-32-20`` (the
training map family) and on ``maze-32-32-2`` and ``warehouse-10-20-10-2-1`` (never seen in
training), all bundled with metagame. Per policy: throughput (goals reached per step, the env's
metric) with a 95% Student-t interval over episodes (:func:`metagame.agents.evaluation.
mean_interval`), and the number of episodes with a deadlock: some agent off its goal standing
still for ``--stuck`` consecutive steps (default 64) at the end of the episode.

Policies: PIBT with swap (``PlannerPolicy("pibt")``, the anchor; ratios are against it), the
shipped Learn-to-Follow follower (``metagame/data/follow/follower``, with its PIBT collision
shield, :class:`~metagame.agents.follow.follower.FollowerPolicy`) and the shipped
independent-PPO baseline (``metagame/data/follow/independent_ppo``, no shield), each greedy
(argmax) and sampled, and the follower's network greedy without its shield (the env's
wait-on-conflict rule alone, where greedy execution deadlocks). ``--train`` instead trains both
learned policies from scratch with :func:`metagame.agents.follow.training.train_follower` on
the shipped weights' recipe (10 minutes of wall time each) and benchmarks those.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from metagame.agents.evaluation import mean_interval
from metagame.agents.follow.follower import FollowerPolicy, load_follower
from metagame.agents.follow.training import (
    BASELINE_RECIPE,
    FOLLOWER_RECIPE,
    TRAINING_MAPS,
    train_follower,
)
from metagame.agents.planners import PlannerPolicy
from metagame.envs.mapf.env import MAPFEnv

DATA = Path(__file__).resolve().parents[1] / "metagame" / "data" / "follow"
MAPS = ["random-32-32-20", "maze-32-32-2", "warehouse-10-20-10-2-1"]
AGENTS = [64, 128]


def episode(policy, env: MAPFEnv, seed: int, stuck: int) -> tuple[float, bool]:
    """Throughput of one episode and whether it ended in a deadlock."""
    observations, _ = env.reset(seed=seed)
    if hasattr(policy, "reset"):
        policy.reset(seed)
    policy.bind(env)
    still = np.zeros(len(env.possible_agents), dtype=np.int64)
    while env.agents:
        before = env.positions
        actions = policy.act_batch([observations[a] for a in env.agents])
        observations, *_ = env.step(dict(zip(env.agents, actions.tolist())))
        moved = (env.positions != before).any(axis=1)
        off_goal = (env.positions != env.goals).any(axis=1)
        still = np.where(moved | ~off_goal, 0, still + 1)
    return env.metrics()["throughput"], bool(still.max() >= stuck)


def run(policy, map_name: str, agents: int, args) -> tuple[np.ndarray, int, float]:
    env = MAPFEnv(map_name, agents, "restart", max_steps=args.steps, seed=0)
    start = time.perf_counter()
    results = [episode(policy, env, 1000 + k, args.stuck) for k in range(args.episodes)]
    seconds = time.perf_counter() - start
    return np.array([r[0] for r in results]), sum(r[1] for r in results), seconds


def learned(args) -> dict[str, object]:
    if args.train:
        out = {}
        for features, name, recipe in (
            ("path", "follower", FOLLOWER_RECIPE),
            ("env", "independent_ppo", BASELINE_RECIPE),
        ):
            t = time.perf_counter()
            out[name] = train_follower(TRAINING_MAPS, 64, features, iterations=10**6, **recipe)
            print(f"trained {name} from scratch in {time.perf_counter() - t:.0f}s")
        return out
    return {name: load_follower(DATA / name) for name in ("follower", "independent_ppo")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--stuck", type=int, default=64)
    parser.add_argument("--train", action="store_true", help="train from scratch, not load")
    parser.add_argument("--maps", nargs="*", default=MAPS)
    parser.add_argument("--agents", type=int, nargs="*", default=AGENTS)
    args = parser.parse_args()
    torch.set_num_threads(1)  # small networks: one thread each, several maps side by side
    nets = learned(args)
    policies = {"PIBT (swap)": PlannerPolicy("pibt")}
    for name, policy in nets.items():
        variants = [(True, policy.shield), (False, policy.shield)]
        if policy.shield:  # the same network sending its choices to the env unshielded
            variants.append((True, False))
        for greedy, shield in variants:
            label = f"{name} {'greedy' if greedy else 'sampled'}"
            label += ", no shield" if policy.shield and not shield else ""
            policies[label] = FollowerPolicy(
                policy.net,
                policy.features,
                policy.planner_settings,
                greedy,
                0,
                label,
                shield=shield,
            )
    print(
        f"lifelong MAPF, {args.steps} steps, {args.episodes} episodes per cell; throughput "
        f"(goals/step) with 95% t-interval; deadlocks = episodes where an agent off its goal "
        f"stood still for the last {args.stuck}+ steps"
    )
    for map_name in args.maps:
        for agents in args.agents:
            print(f"\n{map_name}, {agents} agents")
            anchor = None
            for label, policy in policies.items():
                values, deadlocks, seconds = run(policy, map_name, agents, args)
                interval = mean_interval(values)
                anchor = interval.estimate if anchor is None else anchor
                ratio = interval.estimate / anchor if anchor else float("nan")
                print(
                    f"  {label:<30} {interval.format(signed=False)}  x{ratio:.2f} of PIBT  "
                    f"deadlocks {deadlocks}/{args.episodes}  ({seconds:.1f}s)"
                )


if __name__ == "__main__":
    main()
