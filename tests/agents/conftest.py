"""Shared set-ups of the planner tests: a random PIBT instance, and a PIBT-family step kernel
run beside its Python reference."""

import numpy as np
import pytest

from metagame.agents.planners.instance import make_instance
from metagame.envs.mapf import maps


def _pibt_instance(rng, grid, max_agents):
    """A random instance on ``grid``: 1 to ``max_agents - 1`` agents on distinct cells with
    distinct goals, and a random agent order. Returns (topology, configuration (vertex ids),
    goals (vertex ids), instance, order)."""
    topo = maps.grid_topology(grid)
    n = int(rng.integers(1, min(max_agents, topo.num_vertices)))
    config = rng.choice(topo.num_vertices, n, replace=False)
    goals = rng.choice(topo.num_vertices, n, replace=False)
    inst = make_instance(topo, topo.cells[config], topo.cells[goals])
    return topo, config, goals, inst, rng.permutation(n)


def _step_agrees(kernel, reference, topo, inst, config, goals, order, rest):
    """Runs ``kernel`` on the instance's lazy distance table and ``reference`` on full BFS
    distances from every goal, asserts they agree, and returns (solved, next configuration)."""
    ok, nxt = kernel(config, order, topo.moves, inst.goals, inst.distances.arrays, *rest)
    full = np.array([maps.bfs_distances(topo.moves, g) for g in goals])
    ok_ref, ref = reference(config, order, topo.moves, inst.goals, full, *rest)
    assert ok == ok_ref
    if ok:
        assert nxt.tolist() == ref.tolist()
    return ok, nxt


@pytest.fixture(scope="session")
def pibt_instance():
    """``draw(rng, grid, max_agents)``: see :func:`_pibt_instance`."""
    return _pibt_instance


@pytest.fixture(scope="session")
def step_agrees():
    """``compare(kernel, reference, topo, inst, config, goals, order, rest)``: see
    :func:`_step_agrees`."""
    return _step_agrees


LEDUC = "openspiel:leduc_poker"


def _league_config(
    game=LEDUC, runner=None, games=16, callbacks=None, model=None, algo="PPO", **hparams
) -> "AlgorithmConfig":  # noqa: F821
    """PPO (or ``algo``) in the league's shape: a trainee module ``main`` and a frozen slot
    ``slot_0`` (16-unit layers by default), episodes mapped by the league's agent-to-module mapping,
    complete episodes sampled locally by ``runner`` (default: the vectorised runner)."""
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

    from metagame.agents.rllib import module_spec, rllib_config
    from metagame.agents.rllib.vector_env_runner import VectorEnvRunner
    from metagame.league.sampling import LeagueCallbacks, agent_to_module

    model = model or {"fcnet_hiddens": [16, 16]}
    config = rllib_config(game, algo, rollout_fragment_length="auto", **hparams, **model)
    spec = module_spec(game, algo=algo, **model)
    modules = ["main", "slot_0"]
    config.multi_agent(
        policies=modules, policy_mapping_fn=agent_to_module, policies_to_train=["main"]
    )
    config.rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=dict.fromkeys(modules, spec)))
    config.callbacks(callbacks or LeagueCallbacks)
    config.env_runners(
        env_runner_cls=runner or VectorEnvRunner,
        num_env_runners=0,
        num_envs_per_env_runner=games,
        batch_mode="complete_episodes",
    )
    return config.debugging(seed=0)


def _install(runner_or_algo, game=LEDUC) -> None:
    """The league's match table (30% self-play, 70% against ``slot_0``) and seed 0, in an
    EnvRunner or every EnvRunner of an algorithm."""
    import functools

    from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner

    from metagame.envs import make
    from metagame.league import matchmaking as mm
    from metagame.league.sampling import install_table, reseed

    seats = tuple(make(game).possible_agents)
    table = mm.MatchTable(
        learners={"main": "player"},
        parties=dict.fromkeys(seats, "player"),
        opponents={"main": {"player": (("main", "main", 0.3), ("slot_0", "frozen", 0.7))}},
        slots={"slot_0": "frozen"},
    )
    parties = {a: a for a in seats}  # every seat its own role (party), tied into one population
    setup = [functools.partial(install_table, table, parties, 0), functools.partial(reseed, 0)]
    for f in setup:
        if isinstance(runner_or_algo, MultiAgentEnvRunner):
            f(runner_or_algo)
        else:
            runner_or_algo.env_runner_group.foreach_env_runner(f, local_env_runner=True)


@pytest.fixture(scope="session")
def league_ppo():
    """``config(game, runner, games, callbacks, model, algo, **hparams)`` and ``install(runner
    or algo, game)``: see :func:`_league_config` and :func:`_install`."""
    from types import SimpleNamespace

    return SimpleNamespace(config=_league_config, install=_install)
