"""League overhead: env steps per second of a league run against plain RLlib self-play.

Both train the same learner (PPO, same hyperparameters, same EnvRunner layout) on the same game
in one process and one Ray instance. Plain self-play is RLlib alone: one module shared by both
seats. The league adds everything it does per iteration: matchmaking and slot weight swaps,
the episode-end callback, snapshots, evaluation matches, ratings, the meta-game solve, the exact
exploitability of its mixture and checkpoints. Steps/s counts env steps over the wall time of
whole iterations (after one warm-up iteration each).

    python benchmarks/league.py [--iterations 5] [--game openspiel:kuhn_poker]
"""

from __future__ import annotations

import argparse
import tempfile
import time

HPARAMS = {
    "lr": 0.001,
    "train_batch_size_per_learner": 2000,
    "minibatch_size": 250,
    "num_epochs": 4,
    "rollout_fragment_length": 25,
}
RUNNERS = {"num_env_runners": 1, "num_envs_per_env_runner": 8}


def plain_selfplay(game: str, iterations: int) -> tuple[int, float]:
    from metagame.agents.rllib import rllib_config

    config = rllib_config(game, algo="PPO", sharing="all", **HPARAMS, fcnet_hiddens=[64, 64])
    config.env_runners(batch_mode="complete_episodes", **RUNNERS).debugging(seed=0)
    algo = config.build_algo()
    try:
        algo.train()  # warm-up
        start_steps = algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"))
        start = time.perf_counter()
        for _ in range(iterations):
            result = algo.train()
        seconds = time.perf_counter() - start
        steps = result["env_runners"]["num_env_steps_sampled_lifetime"] - start_steps
    finally:
        algo.stop()
    return int(steps), seconds


def league(game: str, iterations: int) -> tuple[int, float, float]:
    from metagame.league.config import validate
    from metagame.league.runner import League

    cfg = validate(
        {
            "game": {"name": game},
            "learners": {"hparams": HPARAMS, "model": {"fcnet_hiddens": [64, 64]}},
            "mode": {"name": "selfplay", "snapshot_every": 1},
            "evaluation": {"episodes_per_pair": 20, "replay_fraction": 0.05},
            "checkpoint_every": 5,
            "ray": RUNNERS,
        }
    )
    with tempfile.TemporaryDirectory() as run_dir:
        lg = League(cfg, run_dir)
        lg.setup()
        try:
            lg.step()  # warm-up
            start_steps = lg.steps
            start = time.perf_counter()
            train = 0.0
            for _ in range(iterations):
                lg.step()
                train += lg.store.iterations()[-1]["metrics"]["seconds"]["train"]
            seconds = time.perf_counter() - start
            steps = lg.steps - start_steps
        finally:
            lg.algo.stop()
            lg.store.close()
            lg.run_dir.release()
    return int(steps), seconds, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--game", default="openspiel:kuhn_poker")
    args = parser.parse_args()
    import ray

    from metagame.agents.rllib import init_ray

    def fresh_ray() -> None:  # each side gets its own local Ray: no worker process is shared
        ray.shutdown()
        init_ray(num_cpus=2)

    fresh_ray()
    base_steps, base_s = plain_selfplay(args.game, args.iterations)
    fresh_ray()
    league_steps, league_s, league_train_s = league(args.game, args.iterations)
    ray.shutdown()
    base = base_steps / base_s
    full = league_steps / league_s
    train_only = league_steps / league_train_s
    print(
        f"\n{args.game}, PPO, {args.iterations} iterations of "
        f"{HPARAMS['train_batch_size_per_learner']} steps after one warm-up each\n"
    )
    print(f"{'run':<38}{'env steps':>10}{'seconds':>9}{'steps/s':>9}{'ratio':>8}")
    rows = [
        ("plain RLlib self-play (anchor)", base_steps, base_s, base),
        ("league, training only", league_steps, league_train_s, train_only),
        ("league, whole iterations", league_steps, league_s, full),
    ]
    for name, steps, seconds, rate in rows:
        print(f"{name:<38}{steps:>10d}{seconds:>9.1f}{rate:>9.0f}{rate / base:>8.2f}")
    print(
        f"\nleague overhead: {100 * (1 - full / base):.1f}% of plain self-play throughput "
        f"(target <= 10%)"
    )


if __name__ == "__main__":
    main()
