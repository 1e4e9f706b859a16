"""Last-iterate exploitability of magnet PPO (algo="MMD") against plain PPO self-play on Kuhn.

Both train one module shared by the two seats with the same PPO hyperparameters, seed, EnvRunner
layout and number of env steps; MMD adds ``magnet_kl_coeff * KL(pi || magnet)`` with the magnet
moved to the current policy every ``magnet_update_every`` iterations (Sokota et al., 2023).
Every ``--every`` iterations the script prints the exact exploitability (OpenSpiel best
response, through ``metagame.league.exploitability``) of the current policy, the last iterate,
not an average; the final lines give the ratio PPO / MMD at the end of the budget.

    python benchmarks/magnet.py [--iterations 16] [--every 4] [--alpha 0.05] [--magnet-every 8]
"""

from __future__ import annotations

import argparse
import time

GAME = "openspiel:kuhn_poker"
HPARAMS = {
    "lr": 1e-3,
    "train_batch_size": 2000,
    "minibatch_size": 500,
    "num_epochs": 4,
    "entropy_coeff": 0.0,
    "num_env_runners": 0,
    "num_envs_per_env_runner": 16,
    "seed": 0,
}


def exploitability(algo) -> float:
    from metagame.agents.policy import RLModulePolicy
    from metagame.envs import make
    from metagame.league.exploitability import mixture_exploitability

    space = make(GAME).observation_space("player_0")
    policy = RLModulePolicy(algo.get_module("shared"), space, greedy=False)
    return float(mixture_exploitability(GAME, {}, [policy], [1.0]))


def run(algo_name: str, iterations: int, every: int, **extra) -> list[tuple[int, int, float]]:
    """(iteration, env steps, exploitability) every ``every`` iterations, from iteration 0."""
    from metagame.agents.rllib import rllib_config

    config = rllib_config(GAME, algo_name, sharing="all", **HPARAMS, **extra)
    algo = config.build_algo()
    curve = [(0, 0, exploitability(algo))]
    start = time.perf_counter()
    try:
        for i in range(1, iterations + 1):
            result = algo.train()
            if i % every == 0 or i == iterations:
                steps = int(result["env_runners"]["num_env_steps_sampled_lifetime"])
                curve.append((i, steps, exploitability(algo)))
                print(
                    f"  {algo_name:4s} it {i:3d}  steps {steps:6d}  "
                    f"{time.perf_counter() - start:6.0f} s  exploitability {curve[-1][2]:.4f}",
                    flush=True,
                )
    finally:
        algo.stop()
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=16)
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--alpha", type=float, default=0.05, help="magnet_kl_coeff")
    parser.add_argument("--magnet-every", type=int, default=8, help="magnet_update_every")
    args = parser.parse_args()

    import ray

    from metagame.agents.rllib import init_ray

    init_ray(num_cpus=1)
    print(f"{GAME}, one shared module, {HPARAMS}")
    try:
        print("PPO (anchor)")
        ppo = run("PPO", args.iterations, args.every)
        print(f"MMD magnet_kl_coeff={args.alpha} magnet_update_every={args.magnet_every}")
        mmd = run(
            "MMD",
            args.iterations,
            args.every,
            magnet_kl_coeff=args.alpha,
            magnet_update_every=args.magnet_every,
        )
    finally:
        ray.shutdown()
    print(f"{'iteration':>9s} {'steps':>7s} {'PPO':>8s} {'MMD':>8s} {'PPO/MMD':>8s}")
    for (i, steps, p), (_, _, m) in zip(ppo, mmd, strict=True):
        print(f"{i:9d} {steps:7d} {p:8.4f} {m:8.4f} {p / m:8.2f}")
    last = len(ppo) // 2
    tail_ppo = sum(p for _, _, p in ppo[last:]) / len(ppo[last:])
    tail_mmd = sum(m for _, _, m in mmd[last:]) / len(mmd[last:])
    print(f"final last-iterate exploitability: PPO {ppo[-1][2]:.4f}  MMD {mmd[-1][2]:.4f}")
    print(f"mean over the second half of the run: PPO {tail_ppo:.4f}  MMD {tail_mmd:.4f}")


if __name__ == "__main__":
    main()
