"""RLlib benchmark: PPO through ``rllib_config`` against RLlib's own env wrappers.

Run: ``.venv/bin/python benchmarks/agents.py [--iterations 5] [--batch 1000]``.

Env steps per second of PPO training iterations (sampling on the local env runner, then the
learner update), same hyperparameters and network size on both sides, in one process:

1. ``openspiel:tic_tac_toe`` (our AEC adapter, masked module, one shared module) against
   ``ray.rllib.env.wrappers.open_spiel.OpenSpielEnv`` on the same pyspiel game (no masking: it
   replaces illegal moves by random ones with a -0.1 penalty) with RLlib's default module;
2. PettingZoo's ``tictactoe_v3`` through ``ray.rllib.env.wrappers.pettingzoo_env.PettingZooEnv``
   (RLlib's ``FlattenObservations`` connector; illegal moves end the game) against our
   ``openspiel:tic_tac_toe``, the same game;
3. ``gym:CartPole-v1`` (our one-player adapter) against RLlib on the Gymnasium id directly.

Each side is warmed up with one iteration, then the sides alternate for ``--iterations``
iterations each; the table reports median steps per wall-clock second and per CPU second of this
process (everything runs in it: local env runner, local learner; CPU time is what to compare on
a shared machine), and ours/anchor (>= 0.9 is the target).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("RAY_DEDUP_LOGS", "0")

import numpy as np  # noqa: E402
import ray  # noqa: E402
from ray.rllib.algorithms.ppo import PPOConfig  # noqa: E402
from ray.rllib.connectors.env_to_module import FlattenObservations  # noqa: E402
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig  # noqa: E402
from ray.tune.registry import register_env  # noqa: E402

from metagame.agents.rllib import init_ray, rllib_config  # noqa: E402

HIDDEN = [64, 64]


def hyperparameters(batch: int) -> dict:
    return dict(
        train_batch_size=batch, minibatch_size=min(256, batch), num_epochs=2, lr=3e-4, seed=0
    )


def anchor_openspiel(batch: int) -> PPOConfig:
    import pyspiel
    from ray.rllib.env.wrappers.open_spiel import OpenSpielEnv

    register_env("anchor_open_spiel", lambda _: OpenSpielEnv(pyspiel.load_game("tic_tac_toe")))
    return _anchor_multi("anchor_open_spiel", batch)


def anchor_pettingzoo(batch: int) -> PPOConfig:
    from pettingzoo.classic import tictactoe_v3
    from ray.rllib.env.wrappers.pettingzoo_env import PettingZooEnv

    register_env("anchor_pettingzoo", lambda _: PettingZooEnv(tictactoe_v3.env()))
    config = _anchor_multi("anchor_pettingzoo", batch)
    return config.env_runners(
        env_to_module_connector=lambda env, spaces, device: FlattenObservations(multi_agent=True)
    )


def _anchor_multi(env: str, batch: int) -> PPOConfig:
    hp = hyperparameters(batch)
    seed = hp.pop("seed")
    return (
        PPOConfig()
        .environment(env)
        .env_runners(num_env_runners=0)
        .training(**hp)
        .multi_agent(policies={"shared"}, policy_mapping_fn=lambda agent, episode, **kw: "shared")
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=HIDDEN))
        .debugging(seed=seed)
    )


def anchor_cartpole(batch: int) -> PPOConfig:
    hp = hyperparameters(batch)
    seed = hp.pop("seed")
    return (
        PPOConfig()
        .environment("CartPole-v1")
        .env_runners(num_env_runners=0)
        .training(**hp)
        .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=HIDDEN))
        .debugging(seed=seed)
    )


def ours(game: str, batch: int) -> PPOConfig:
    return rllib_config(
        game, "PPO", num_env_runners=0, fcnet_hiddens=HIDDEN, **hyperparameters(batch)
    )


def timed_iteration(algo, lifetime: list[float]) -> tuple[float, float]:
    """One training iteration; returns env steps per wall-clock and per CPU second."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = algo.train()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    total = result["env_runners"]["num_env_steps_sampled_lifetime"]
    steps, lifetime[0] = total - lifetime[0], total
    return steps / wall, steps / cpu


def compare(name: str, ours_config, anchor_config, anchor_name: str, iterations: int):
    ours_algo, anchor_algo = ours_config.build_algo(), anchor_config.build_algo()
    try:
        ours_seen, anchor_seen = [0.0], [0.0]
        timed_iteration(ours_algo, ours_seen)  # warm-up
        timed_iteration(anchor_algo, anchor_seen)
        ours_rates, anchor_rates = [], []
        for _ in range(iterations):
            ours_rates.append(timed_iteration(ours_algo, ours_seen))
            anchor_rates.append(timed_iteration(anchor_algo, anchor_seen))
    finally:
        ours_algo.stop()
        anchor_algo.stop()
    ours_rate, anchor_rate = np.median(ours_rates, axis=0), np.median(anchor_rates, axis=0)
    return name, anchor_name, ours_rate, anchor_rate, ours_rate / anchor_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    init_ray(num_cpus=2)
    b, n = args.batch, args.iterations
    rows = [
        compare(
            "openspiel:tic_tac_toe",
            ours("openspiel:tic_tac_toe", b),
            anchor_openspiel(b),
            "OpenSpielEnv",
            n,
        ),
        compare(
            "openspiel:tic_tac_toe",
            ours("openspiel:tic_tac_toe", b),
            anchor_pettingzoo(b),
            "PettingZooEnv(tictactoe_v3)",
            n,
        ),
        compare(
            "gym:CartPole-v1",
            ours("gym:CartPole-v1", b),
            anchor_cartpole(b),
            "RLlib on CartPole-v1",
            n,
        ),
    ]
    ray.shutdown()
    print(f"\nPPO training throughput, env steps/s (batch {b}, {n} timed iterations, median);")
    print("wall = wall-clock seconds, cpu = this process's CPU seconds (robust to other load)")
    header = (
        f"{'game':<24}{'anchor':<29}{'ours wall':>10}{'anchor':>8}{'ratio':>7}"
        f"{'ours cpu':>10}{'anchor':>8}{'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    for game, anchor, ours_rate, anchor_rate, ratio in rows:
        print(
            f"{game:<24}{anchor:<29}{ours_rate[0]:>10.0f}{anchor_rate[0]:>8.0f}{ratio[0]:>7.2f}"
            f"{ours_rate[1]:>10.0f}{anchor_rate[1]:>8.0f}{ratio[1]:>7.2f}"
        )


if __name__ == "__main__":
    main()
