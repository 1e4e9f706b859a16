"""Preference games record and re-simulate exactly through metagame's replays."""

import numpy as np

from metagame.envs.preference import bradley_terry
from metagame.envs.replay import Replay, simulate, verify


def record(env_name, kwargs, seed, policy):
    replay = Replay(env=env_name, env_kwargs=kwargs, seed=seed, kind="parallel")
    env = replay.make_env()
    env.reset(seed=seed)
    returns = dict.fromkeys(env.possible_agents, 0.0)
    rng = np.random.default_rng(seed)
    while env.agents:
        actions = {a: policy(env, rng) for a in env.agents}
        replay.actions.append(actions)
        _, rewards, *_ = env.step(actions)
        for a, r in rewards.items():
            returns[a] += r
    replay.returns = returns
    return replay


def test_preference_replay_round_trip(tmp_path):
    kwargs = {"P": bradley_terry([0.0, 1.0, 2.0]), "rounds": 5, "stochastic": True}
    replay = record("preference", kwargs, 3, lambda env, rng: int(rng.integers(3)))
    loaded = Replay.load(replay.save(tmp_path / "m.replay.json.gz"))
    np.testing.assert_array_equal(loaded.env_kwargs["P"], kwargs["P"])
    assert verify(loaded) == replay.returns


def test_duel_replay_round_trip(tmp_path):
    replay = record(
        "llm_duel",
        {"num_players": 3, "stochastic": True},
        5,
        lambda env, rng: int(rng.integers(env.vocab.num_actions)),
    )
    loaded = Replay.load(replay.save(tmp_path / "d.replay.json.gz"))
    assert verify(loaded) == replay.returns
    steps = list(simulate(loaded))
    assert len(steps) == len(replay.actions) + 1
    assert steps[-1].env.preferences is not None  # the judge ran at the end
