"""Preference games record and re-simulate exactly through metagame's replays."""

import numpy as np

from metagame.envs.preference import bradley_terry
from metagame.envs.replay import Replay, simulate, verify


def test_preference_replay_round_trip(tmp_path, record_parallel):
    kwargs = {"P": bradley_terry([0.0, 1.0, 2.0]), "rounds": 5, "stochastic": True}
    replay, _ = record_parallel(
        "preference", 3, lambda env, a, obs, rng: int(rng.integers(3)), **kwargs
    )
    loaded = Replay.load(replay.save(tmp_path / "m.replay.json.gz"))
    np.testing.assert_array_equal(loaded.env_kwargs["P"], kwargs["P"])
    assert verify(loaded) == replay.returns


def test_duel_replay_round_trip(tmp_path, record_parallel):
    replay, _ = record_parallel(
        "llm_duel",
        5,
        lambda env, agent, obs, rng: int(rng.integers(env.vocab.num_actions)),
        num_players=3,
        stochastic=True,
    )
    loaded = Replay.load(replay.save(tmp_path / "d.replay.json.gz"))
    assert verify(loaded) == replay.returns
    steps = list(simulate(loaded))
    assert len(steps) == len(replay.actions) + 1
    assert steps[-1].env.preferences is not None  # the judge ran at the end
