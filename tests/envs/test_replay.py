"""Replays: record, save, load, re-simulate exactly; bad files are named."""

import gzip

import numpy as np
import pytest

from metagame.envs import Replay, make
from metagame.envs.replay import simulate, verify


def _record_aec(name, seed):
    env = make(name)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    replay = Replay(env=name, env_kwargs={}, seed=seed, kind="aec")
    returns = dict.fromkeys(env.possible_agents, 0.0)
    for agent in env.agent_iter():
        obs, reward, term, trunc, _ = env.last()
        returns[agent] += reward
        action = None if term or trunc else int(rng.choice(np.flatnonzero(obs["action_mask"])))
        replay.actions.append([agent, action])
        env.step(action)
    replay.returns = returns
    return replay, env.game_state.history()


def _record_parallel(name, seed, **kwargs):
    env = make(name, **kwargs)
    env.reset(seed=seed)
    replay = Replay(env=name, env_kwargs=kwargs, seed=seed, kind="parallel")
    returns = dict.fromkeys(env.possible_agents, 0.0)
    while env.agents:
        actions = {a: env.action_space(a).sample() for a in env.agents}
        replay.actions.append(actions)
        _, rewards, _, _, _ = env.step(actions)
        for a, r in rewards.items():
            returns[a] += r
    replay.returns = returns
    return replay, env


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_turn_based_replay_round_trip_reproduces_history_and_returns(tmp_path, seed):
    replay, history = _record_aec("openspiel:leduc_poker", seed)
    loaded = Replay.load(replay.save(tmp_path / "m.replay.json.gz"))
    assert loaded == replay
    verify(loaded)
    *_, (env, steps, _, _) = simulate(loaded)
    assert env.game_state.history() == history and steps == len(replay.actions)


def test_parallel_replay_round_trip_with_array_kwargs_and_continuous_actions(tmp_path):
    replay, env = _record_parallel("gym:Pendulum-v1", 4, max_episode_steps=20)
    final = env.env.unwrapped.state.copy()
    loaded = Replay.load(replay.save(tmp_path / "p.replay.json.gz"))
    returns = verify(loaded)
    assert returns["player_0"] == pytest.approx(replay.returns["player_0"], abs=1e-12)
    *_, (re_env, _, _, _) = simulate(loaded)
    np.testing.assert_array_equal(re_env.env.unwrapped.state, final)


def test_tampered_replay_fails_verification(tmp_path):
    replay, _ = _record_aec("openspiel:kuhn_poker", 5)
    replay.returns = {a: r + 1.0 for a, r in replay.returns.items()}
    with pytest.raises(ValueError, match="does not reproduce"):
        verify(replay)


def test_missing_and_corrupt_replay_files_are_named(tmp_path):
    with pytest.raises(ValueError, match="not found.*nope"):
        Replay.load(tmp_path / "nope.replay.json.gz")
    bad = tmp_path / "bad.replay.json.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="bad.replay.json.gz is not a valid replay"):
        Replay.load(bad)
    partial = tmp_path / "partial.replay.json.gz"
    with gzip.open(partial, "wt") as f:
        f.write('{"env": "openspiel:kuhn_poker"}')
    with pytest.raises(ValueError, match="lacks fields"):
        Replay.load(partial)
