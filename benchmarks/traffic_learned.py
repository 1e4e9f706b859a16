"""Learned traffic drivers against IDM/MOBIL and independent PPO.

Run: ``.venv/bin/python benchmarks/traffic_learned.py [--episodes 50] [--train-seconds 300]
[--load DIR] [--save DIR]``.

On the ``intersection`` and ``highway`` scenarios, each in ``mild`` and ``chaotic`` traffic,
with 4 controlled vehicles and 100 steps (1 s each) per episode: success rate (controlled
vehicles that arrived, over those that entered) and collision rate, each with a 95% Wilson
interval over the vehicles of ``--episodes`` episodes (seeds 1,000,000 on, never seen in
training). Policies, every one driving all controlled vehicles:

- always "keep" (the target speed set at entry) and uniformly random legal meta-actions;
- ``IDMPolicy``: the env's IDM/MOBIL drivers with each vehicle's own sampled parameters (the
  anchor: ratios "x IDM" are against it), and the same with every vehicle on the aggressive
  type's mean parameters (``IDMPolicy(style="aggressive")``), a fixed choice of the style the
  learned driver picks from;
- independent PPO (``features="env"``: the env's observation and meta-actions), greedy
  (argmax) and sampled;
- the learned driver (``features="intent"``: neighbour intents inferred from their speed
  history, a learned choice of IDM/MOBIL driver style each step; see
  :mod:`metagame.agents.traffic_drivers.learned_driver` for what is learned and what is rule-based),
  greedy and sampled. "x PPO" is against the better of independent PPO's two figures.

Both learners are trained from scratch first, each for ``--train-seconds`` of wall time (300 by
default) over all four settings with :func:`~metagame.agents.traffic_drivers.training.
train_driver`, seed 0; ``--load DIR`` instead loads ``DIR/learned_driver`` and
``DIR/independent_ppo`` (``metagame/data/traffic_drivers`` holds shipped ones), and ``--save
DIR`` writes the trained ones there. The target line of each setting checks the learned
driver: success >= IDM's, collision rate <= IDM's, success >= 1.25x PPO's.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from metagame.agents import IDMPolicy
from metagame.agents.evaluation import wilson_interval
from metagame.agents.policy import MixedStrategyPolicy, RandomPolicy, load_policy, save_policy
from metagame.agents.traffic_drivers.evaluation import Outcomes, episode_outcomes
from metagame.agents.traffic_drivers.training import ENV_KWARGS, SETTINGS, train_driver
from metagame.envs import make
from metagame.envs.traffic.observe import KEEP, NUM_ACTIONS

LEARNERS = ("learned_driver", "independent_ppo")
SEED = 1_000_000


def learners(args) -> dict[str, object]:
    if args.load:
        return {name: load_policy(Path(args.load) / name) for name in LEARNERS}
    out = {}
    for features, name in zip(("intent", "env"), LEARNERS):
        t = time.perf_counter()
        out[name] = train_driver(features, iterations=10**6, max_seconds=args.train_seconds)
        print(f"trained {name} from scratch in {time.perf_counter() - t:.0f}s")
        if args.save:
            save_policy(out[name], Path(args.save) / name)
    return out


def policies(trained: dict) -> dict[str, object]:
    keep = np.eye(NUM_ACTIONS)[KEEP]
    table = {
        'always "keep"': lambda env: MixedStrategyPolicy(keep, id="keep"),
        "random": lambda env: RandomPolicy(env.action_space("vehicle_0"), id="random"),
        "IDM/MOBIL": lambda env: IDMPolicy(),
        "IDM/MOBIL, aggressive": lambda env: IDMPolicy(style="aggressive"),
    }
    for label, name in (("independent PPO", "independent_ppo"), ("learned driver", LEARNERS[0])):
        for greedy in (True, False):
            table[f"{label} {'greedy' if greedy else 'sampled'}"] = _variant(trained[name], greedy)
    return table


def _variant(policy, greedy: bool):
    def build(env):
        policy.greedy = greedy
        return policy

    return build


def run(build, scenario: str, traffic: str, episodes: int) -> tuple[Outcomes, float]:
    env = make("traffic", scenario=scenario, traffic=traffic, **ENV_KWARGS)
    policy = build(env)
    start = time.perf_counter()
    total = Outcomes(0, 0, 0)
    for k in range(episodes):
        total = total + episode_outcomes(env, policy, SEED + k)
    return total, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--train-seconds", type=float, default=300.0)
    parser.add_argument("--load", help="directory with learned_driver/ and independent_ppo/")
    parser.add_argument("--save", help="write the trained learners here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    table = policies(learners(args))
    print(
        f"{ENV_KWARGS['num_controlled']} controlled vehicles, {ENV_KWARGS['max_steps']} steps, "
        f"{args.episodes} episodes per cell; success and collision rates over controlled "
        f"vehicles with 95% Wilson intervals"
    )
    for scenario, traffic in SETTINGS:
        print(f"\n{scenario}, {traffic} traffic")
        results = {
            label: run(build, scenario, traffic, args.episodes) for label, build in table.items()
        }
        rates = {
            label: (o.arrived / o.entered, o.crashed / o.entered)
            for label, (o, _) in results.items()
        }
        idm = rates["IDM/MOBIL"][0]
        ppo = max(rates[f"independent PPO {m}"][0] for m in ("greedy", "sampled"))
        for label, (outcome, seconds) in results.items():
            success = wilson_interval(outcome.arrived, outcome.entered)
            collision = wilson_interval(outcome.crashed, outcome.entered)
            ratios = f"x{_ratio(success.estimate, idm)} IDM"
            if label.startswith("learned"):
                ratios += f"  x{_ratio(success.estimate, ppo)} PPO"
            print(
                f"  {label:<24} success {success.format(signed=False)}  collisions "
                f"{collision.format(signed=False)}  n={outcome.entered}  {ratios}  ({seconds:.1f}s)"
            )
        print("  " + _target(rates))


def _ratio(value: float, anchor: float) -> str:
    return f"{value / anchor:.2f}" if anchor > 0 else "inf" if value > 0 else "nan"


def _target(rates: dict) -> str:
    idm_success, idm_collisions = rates["IDM/MOBIL"]
    ppo = max(rates[f"independent PPO {m}"][0] for m in ("greedy", "sampled"))
    parts = []
    for mode in ("greedy", "sampled"):
        success, collisions = rates[f"learned driver {mode}"]
        met = success >= idm_success and collisions <= idm_collisions and success >= 1.25 * ppo
        parts.append(f"{mode} {'met' if met else 'NOT met'}")
        if mode == "greedy" and success == 0:
            parts[-1] += " (greedy does not arrive)"
    return "target (success >= IDM, collisions <= IDM, success >= 1.25x PPO): " + ", ".join(parts)


if __name__ == "__main__":
    main()
