"""Test-wide settings: headless rendering, bounded threads, deterministic hypothesis."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
# Ray started without an address starts its own instance: tests run in parallel (make test
# runs two pytest workers), and one test's cluster must never be joined by another's driver
os.environ.setdefault("RAY_ADDRESS", "local")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci")


@pytest.fixture(scope="module")
def ray_local():
    """A fresh local Ray instance (2 CPUs, no dashboard) for one test module."""
    import ray

    from metagame.agents.rllib import init_ray

    init_ray(num_cpus=2)
    yield ray
    ray.shutdown()


def _masked_uniform(env, agent, observation, rng):
    return int(rng.choice(np.flatnonzero(observation["action_mask"])))


@pytest.fixture
def record_parallel():
    """``record(name, seed, choose=..., **kwargs)``: plays the Parallel env ``make(name,
    **kwargs)`` from ``reset(seed=seed)`` to its end and returns the recorded Replay (its
    returns filled in) and the env. ``choose(env, agent, observation, rng)`` gives each agent's
    action, ``rng`` seeded by ``seed``; by default uniform over the action mask."""
    from metagame.envs import Replay, make

    def record(name, seed, choose=_masked_uniform, **kwargs):
        env = make(name, **kwargs)
        obs, _ = env.reset(seed=seed)
        replay = Replay(env=name, env_kwargs=kwargs, seed=seed, kind="parallel")
        rng = np.random.default_rng(seed)
        returns = dict.fromkeys(env.possible_agents, 0.0)
        while env.agents:
            actions = {a: choose(env, a, obs[a], rng) for a in env.agents}
            replay.actions.append(actions)
            obs, rewards, *_ = env.step(actions)
            for a, r in rewards.items():
                returns[a] += r
        replay.returns = returns
        return replay, env

    return record


class StoreRows:
    """Rows for a league ``Store`` in tests, the fields a test does not vary defaulted: a
    player of population ``player``, a match between two seats ``player_0`` and ``player_1``."""

    @staticmethod
    def player(
        store,
        checkpoint,
        *,
        prefix="main",
        kind=None,
        parent=None,
        step=0,
        iteration=0,
        reason="test",
    ):
        return store.add_player(
            prefix,
            kind=kind or prefix,
            population="player",
            parent=parent,
            step=step,
            iteration=iteration,
            checkpoint=checkpoint,
            reason=reason,
        )

    @staticmethod
    def match(
        store,
        key,
        players,
        returns,
        *,
        iteration=0,
        outcome="draw",
        length=1,
        seed=0,
        save_replay=None,
    ):
        return store.record_match(
            key,
            iteration=iteration,
            players=list(players),
            seats=["player_0", "player_1"],
            outcome=outcome,
            returns=list(returns),
            length=length,
            seed=seed,
            save_replay=save_replay,
        )


@pytest.fixture
def store_rows():
    """:class:`StoreRows`: ``player(store, checkpoint, ...)`` and ``match(store, key, players,
    returns, ...)``."""
    return StoreRows
