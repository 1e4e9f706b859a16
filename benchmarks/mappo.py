"""MAPPO against independent PPO on a small cooperative MAPF instance, same budget.

Both train one module shared by all agents (parameter sharing) with the same PPO
hyperparameters, seeds, EnvRunner layout and number of iterations (so the same number of env
steps); MAPPO's critic also sees the env's global state (``rllib_config(..., algo="MAPPO")``,
Yu et al., NeurIPS 2022), independent PPO's critic only the agent's own observation. The game
is one-shot MAPF where agents leave at their goals (``on_target="finish"``), 1 per goal reached,
so the team's return is the number of agents that arrived: a common payoff.

After training, each seed's module is evaluated on ``--episodes`` fresh episodes, greedy
(argmax) and sampled; the table gives the team return (agents arrived, of ``num_agents``) with
a 95% Student-t interval over all evaluation episodes of all seeds, the success rate (every
agent arrived) with Wilson's interval, and the ratio MAPPO / PPO. PIBT on the same episodes
gives the ceiling: an agent that starts on its goal leaves at once and earns nothing.

    python benchmarks/mappo.py [--iterations 10] [--seeds 0 1] [--episodes 50] [--agents 8]
        [--max-steps 64]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

GAME = "mapf"
ENV = dict(map="random-8-8-20", num_agents=8, on_target="finish", max_steps=64, obs_radius=3)
HPARAMS = {
    "lr": 1e-3,
    "train_batch_size": 2048,
    "minibatch_size": 512,
    "num_epochs": 6,
    "num_env_runners": 0,
    "num_envs_per_env_runner": 4,
}
ALGOS = ("PPO", "MAPPO")


def train(algo_name: str, iterations: int, seed: int, log_every: int):
    """The trained shared module (detached from its Algorithm) and the env steps it used."""
    from metagame.agents.rllib import rllib_config

    config = rllib_config(GAME, algo_name, sharing="all", env_kwargs=ENV, seed=seed, **HPARAMS)
    algo = config.build_algo()
    start = time.perf_counter()
    try:
        for i in range(1, iterations + 1):
            result = algo.train()
            runners = result["env_runners"]
            if i % log_every == 0 or i == iterations:
                print(
                    f"  {algo_name:5s} seed {seed} it {i:3d}  "
                    f"steps {int(runners['num_env_steps_sampled_lifetime']):7d}  "
                    f"{time.perf_counter() - start:6.0f} s  "
                    f"team return {runners.get('episode_return_mean', float('nan')):.2f}",
                    flush=True,
                )
        return algo.get_module("shared"), int(runners["num_env_steps_sampled_lifetime"])
    finally:
        algo.stop()


def evaluate(module, greedy: bool, episodes: int, seed: int) -> np.ndarray:
    """Agents arrived in each of ``episodes`` episodes."""
    from metagame.agents.policy import RLModulePolicy
    from metagame.envs import make

    space = make(GAME, **ENV).observation_space("player_0")
    policy = RLModulePolicy(module, space, greedy=greedy, seed=seed)
    return arrivals(policy, episodes, seed)


def arrivals(policy, episodes: int, seed: int) -> np.ndarray:
    """Agents arrived in each of ``episodes`` evaluation episodes of training seed ``seed``
    (disjoint episode seeds per training seed)."""
    from metagame.agents.arena import play

    results = play(GAME, [policy], episodes=episodes, seed=10_000 * (seed + 1), env_kwargs=ENV)
    return results.returns.sum(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--log-every", type=int, default=5)
    parser.add_argument("--agents", type=int, default=ENV["num_agents"])
    parser.add_argument("--max-steps", type=int, default=ENV["max_steps"])
    args = parser.parse_args()
    ENV.update(num_agents=args.agents, max_steps=args.max_steps)  # the script's one game

    import ray
    import torch

    from metagame.agents.evaluation import mean_interval, wilson_interval
    from metagame.agents.rllib import init_ray

    torch.set_num_threads(1)
    init_ray(num_cpus=1)
    print(f"{GAME} {ENV}, one shared module, {HPARAMS}, {args.iterations} iterations per seed")
    arrived: dict[tuple[str, bool], list[np.ndarray]] = {}
    try:
        for seed in args.seeds:
            for algo_name in ALGOS:
                module, steps = train(algo_name, args.iterations, seed, args.log_every)
                for greedy in (True, False):
                    values = evaluate(module, greedy, args.episodes, seed)
                    arrived.setdefault((algo_name, greedy), []).append(values)
    finally:
        ray.shutdown()
    from metagame.agents.planners import PlannerPolicy

    ceiling = np.concatenate(
        [arrivals(PlannerPolicy("pibt"), args.episodes, s) for s in args.seeds]
    )
    n = ENV["num_agents"]
    print(
        f"\nevaluation: {args.episodes} episodes x {len(args.seeds)} seeds per row; "
        f"agents arrived (of {n}) with 95% t-interval, success = all {n} arrived (Wilson)"
    )
    print(
        f"  PIBT (centralised planner, the ceiling: an agent that starts on its goal earns "
        f"nothing) arrived {ceiling.mean():.3f}, success {(ceiling == n).mean():.3f}"
    )
    for greedy in (True, False):
        means = {}
        for algo_name in ALGOS:
            values = np.concatenate(arrived[(algo_name, greedy)])
            means[algo_name] = values.mean()
            per_seed = " ".join(f"{v.mean():.2f}" for v in arrived[(algo_name, greedy)])
            success = wilson_interval(int((values == n).sum()), len(values))
            print(
                f"  {algo_name:5s} {'greedy ' if greedy else 'sampled'}  arrived "
                f"{mean_interval(values).format(signed=False)}  success "
                f"{success.format(signed=False)}  (per seed {per_seed})"
            )
        ratio = means["MAPPO"] / means["PPO"]
        print(f"  MAPPO / PPO {'greedy' if greedy else 'sampled'}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
