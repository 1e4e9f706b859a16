"""League throughput: RLlib's MultiAgentEnvRunner and learner against the league's own setup.

Run: ``python benchmarks/league_throughput.py [--rounds 5] [--games leduc_poker kuhn_poker]``.

Every side trains the league's setup in one process and one Ray instance: PPO (the
hyperparameters of ``benchmarks/league.py``), a learner module ``main`` and a frozen opponent
slot ``slot_0``, each episode's pairing drawn by the league's own ``agent_to_module`` from a
match table (30% self-play, 70% against the slot, random seats), the league's episode-end
callback, ``batch_mode="complete_episodes"``, local sampling (``num_env_runners=0``). The sides:

- the anchor, plain RLlib: ``MultiAgentEnvRunner`` with the league's default
  ``num_envs_per_env_runner=8``, RLlib's learner connector pipeline and PPO learner;
- :class:`metagame.agents.rllib.vector_env_runner.VectorEnvRunner` with ``--games-at-once``
  games, PPO's train batch from whole arrays
  (:class:`metagame.agents.rllib.train_batch.TrainBatch`), RLlib's PPO learner;
- the league as it runs: the same with the whole-batch learner
  (:mod:`metagame.agents.rllib.whole_batch_learner`), the configuration
  ``metagame.league.runner`` builds for PPO trainees on a turn-based OpenSpiel game.

The three learn the same updates from the same batches (the tests compare them);
``rollout_fragment_length="auto"`` on all (ignored in complete-episode mode).

Run it with ``PYTHONPATH`` at the checkout (``PYTHONPATH=$PWD python benchmarks/...``): the
script's own folder, not the working directory, starts Python's path.

After one warm-up iteration each, the sides alternate for ``--rounds`` rounds; each round
measures, per side, (a) sampling alone: the env steps of one train batch collected the way PPO
collects it (``synchronous_parallel_sample``, with the runner's metrics), and (b) a whole
``Algorithm.train()`` iteration (sampling and the PPO update). The table gives median env
steps per wall second and per CPU second of this process (everything runs in it; CPU time is
the fairer clock on a shared machine) and the ratio to the anchor (target >= 10x).

Then the PPO update alone, per minibatch, on one train batch of the league side: RLlib's
learner against the whole-batch learner (the same minibatches and updates), and the
whole-batch learner's gradient steps on minibatches gathered beforehand, the floor that
forward, loss, backward and optimizer step leave.

The VectorEnvRunner moves the objects alive at its first ``sample()`` (Ray's, torch's, every
side's algorithm) to the garbage collector's permanent generation (see its module docstring);
the anchor, in the same process, then skips them in its full collections too, which it would
not alone: its rate here is higher, the ratios lower, than in separate processes.

Torch runs with ``--torch-threads`` intra-op threads (default 1) on all sides; in the driver
process Ray does not limit them, and on a busy 2-core machine two threads make every small
forward and backward pass several times slower.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from typing import Any

os.environ.setdefault("RAY_DEDUP_LOGS", "0")

import numpy as np  # noqa: E402

HPARAMS = {
    "lr": 0.001,
    "train_batch_size_per_learner": 2000,
    "minibatch_size": 250,
    "num_epochs": 4,
    "rollout_fragment_length": "auto",
}
MODEL = {"fcnet_hiddens": [64, 64]}


def build(game: str, runner_cls: type | None, games_at_once: int, seed: int, league_learner: bool):
    """The league-shaped PPO algorithm on ``game`` (``runner_cls`` None: RLlib's runner and
    pipeline; ``league_learner``: the whole-batch learner, as the league trains)."""
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

    from metagame.agents.rllib import module_spec, rllib_config
    from metagame.agents.rllib.train_batch import use_train_batch
    from metagame.agents.rllib.whole_batch_learner import use_whole_batch_learner
    from metagame.league.sampling import LeagueCallbacks, agent_to_module

    config = rllib_config(game, algo="PPO", **HPARAMS, **MODEL)
    spec = module_spec(game, algo="PPO", **MODEL)
    modules = ["main", "slot_0"]
    config.multi_agent(
        policies=modules, policy_mapping_fn=agent_to_module, policies_to_train=["main"]
    )
    config.rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=dict.fromkeys(modules, spec)))
    config.callbacks(LeagueCallbacks)
    runners = {"num_env_runners": 0, "batch_mode": "complete_episodes"}
    if runner_cls is None:
        runners["num_envs_per_env_runner"] = 8
    else:
        runners.update(env_runner_cls=runner_cls, num_envs_per_env_runner=games_at_once)
    config.env_runners(**runners).debugging(seed=seed)
    if runner_cls is not None:  # as the league runs it: PPO's batch from whole arrays
        config = use_train_batch(config)
    if league_learner:
        config = use_whole_batch_learner(config)
    algo = config.build_algo()
    algo.env_runner_group.foreach_env_runner(install_table(game, seed), local_env_runner=True)
    return algo


def install_table(game: str, seed: int):
    from metagame.envs import make
    from metagame.league import matchmaking as mm
    from metagame.league.sampling import install_table as install

    seats = tuple(make(game).possible_agents)
    table = mm.MatchTable(
        learners={"main": "player"},
        parties=dict.fromkeys(seats, "player"),
        opponents={"main": {"player": (("main", "main", 0.3), ("slot_0", "player_a", 0.7))}},
        slots={"slot_0": "player_a"},
    )
    return functools.partial(install, table, {a: a for a in seats}, seed)


def measure(algo, seed: int) -> dict[str, float]:
    """Env steps, wall and CPU seconds of one train batch's sampling and of one iteration."""
    from ray.rllib.execution.rollout_ops import synchronous_parallel_sample

    from metagame.league.sampling import reseed, tallies

    out = {}
    wall, cpu = time.perf_counter(), time.process_time()
    episodes, _ = synchronous_parallel_sample(
        worker_set=algo.env_runner_group,
        max_env_steps=algo.config.total_train_batch_size,
        _uses_new_env_runners=True,
        _return_metrics=True,
    )
    out["sample_steps"] = sum(len(e) for e in episodes)
    out["sample_wall"] = time.perf_counter() - wall
    out["sample_cpu"] = time.process_time() - cpu
    # the league's own count: env steps of the episodes its episode-end callback tallied
    group = algo.env_runner_group
    group.foreach_env_runner(functools.partial(reseed, seed), local_env_runner=True)
    wall, cpu = time.perf_counter(), time.process_time()
    algo.train()
    out["train_wall"] = time.perf_counter() - wall
    out["train_cpu"] = time.process_time() - cpu
    out["train_steps"] = sum(s for _, s in group.foreach_env_runner(tallies, local_env_runner=True))
    return out


def minibatch_costs(rllib_side, league_side, rounds: int) -> dict[str, Any]:
    """Median wall and CPU milliseconds per minibatch of the PPO update on one train batch
    (the league side's): RLlib's learner, the whole-batch learner, and the whole-batch
    learner's gradient steps alone on minibatches gathered beforehand (forward, PPO loss,
    backward, optimizer step: the torch floor of the update, without its bookkeeping)."""
    import torch
    from ray.rllib.core.columns import Columns
    from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
    from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

    from metagame.agents.rllib.whole_batch_learner import HeldMetrics, minibatch_rows

    config = league_side.config
    episodes = synchronous_parallel_sample(
        worker_set=league_side.env_runner_group,
        max_env_steps=config.total_train_batch_size,
        _uses_new_env_runners=True,
    )
    league = league_side.learner_group._learner
    columns = league._learner_connector(
        rl_module=league.module, batch={}, episodes=episodes, shared_data={}
    )
    batch = MultiAgentBatch(
        {m: SampleBatch(c) for m, c in columns.items()}, sum(len(e) for e in episodes)
    )
    lengths = {m: len(b) for m, b in batch.policy_batches.items()}
    plan = list(minibatch_rows(lengths, config.minibatch_size, config.num_epochs, True))
    # as the learner steps on them: the rows in the loss, without the loss mask
    in_loss = {m: c.pop(Columns.LOSS_MASK).numpy() for m, c in columns.items()}
    minibatches = [
        {
            m: {k: v[torch.from_numpy(r[in_loss[m][r]])] for k, v in columns[m].items()}
            for m, r in rows.items()
        }
        for rows in plan
    ]
    update = {
        "batch": batch,
        "minibatch_size": config.minibatch_size,
        "num_epochs": config.num_epochs,
        "shuffle_batch_per_epoch": True,
        "timesteps": {},
    }

    def steps_alone() -> None:
        logger = league.metrics
        league.metrics = HeldMetrics(logger)
        try:
            for minibatch in minibatches:
                league.minibatch_step(minibatch)
        finally:
            league.metrics = logger

    def per_minibatch(run) -> tuple[float, float]:
        walls, cpus = [], []
        for _ in range(rounds):
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        return tuple(float(np.median(t)) / len(plan) * 1e3 for t in (walls, cpus))

    return {
        "RLlib's PPO learner": per_minibatch(
            lambda: rllib_side.learner_group._learner.update(**update)
        ),
        "whole-batch learner": per_minibatch(lambda: league.update(**update)),
        "gradient steps alone (floor)": per_minibatch(steps_alone),
        "minibatches per update": len(plan),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--games", nargs="+", default=["leduc_poker", "kuhn_poker"])
    parser.add_argument("--games-at-once", type=int, default=256)
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import torch

    from metagame.agents.rllib import init_ray
    from metagame.agents.rllib.vector_env_runner import VectorEnvRunner

    torch.set_num_threads(args.torch_threads)
    init_ray(num_cpus=2)
    rows, costs = [], {}
    for name in args.games:
        game = f"openspiel:{name}"
        games = args.games_at_once
        sides = {
            "RLlib runner (8 envs) + learner (anchor)": build(game, None, 0, args.seed, False),
            f"VectorEnvRunner ({games}) + RLlib learner": build(
                game, VectorEnvRunner, games, args.seed, False
            ),
            f"league: VectorEnvRunner ({games}) + whole-batch": build(
                game, VectorEnvRunner, games, args.seed, True
            ),
        }
        for algo in sides.values():
            algo.train()  # warm-up
        runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
        for _ in range(args.rounds):
            for side, algo in sides.items():
                runs[side].append(measure(algo, args.seed))
        vector, league = list(sides.values())[1:]
        costs[game] = minibatch_costs(vector, league, args.rounds)
        for algo in sides.values():
            algo.stop()
        anchor = None
        for side, measured in runs.items():
            rates = {
                f"{phase}_{clock}": float(
                    np.median([m[f"{phase}_steps"] / m[f"{phase}_{clock}"] for m in measured])
                )
                for phase in ("sample", "train")
                for clock in ("wall", "cpu")
            }
            anchor = anchor or rates
            rows.append((game, side, rates, {k: v / anchor[k] for k, v in rates.items()}))
    print(
        f"\nPPO {HPARAMS['train_batch_size_per_learner']}-step batches, {args.rounds} rounds "
        f"after one warm-up iteration, torch threads {args.torch_threads}; median env steps/s "
        f"(ratio to the anchor)\n"
    )
    head = f"{'game':<24}{'side':<50}"
    for phase in ("sampling", "whole iteration"):
        head += f"{phase + ' /wall s':>26}{phase + ' /CPU s':>26}"
    print(head)
    for game, side, rates, ratios in rows:
        line = f"{game:<24}{side:<50}"
        for key in ("sample_wall", "sample_cpu", "train_wall", "train_cpu"):
            line += f"{rates[key]:>17.0f} ({ratios[key]:5.1f}x)"
        print(line)
    print("\nPPO update on one train batch of the league side, median ms per minibatch\n")
    for game, cost in costs.items():
        count = cost.pop("minibatches per update")
        print(f"{game} ({count} minibatches of {HPARAMS['minibatch_size']} rows per update)")
        for what, (wall, cpu) in cost.items():
            print(f"  {what:<32}{wall:7.2f} ms wall {cpu:7.2f} ms CPU")


if __name__ == "__main__":
    main()
