"""Replays: record, save, load, re-simulate exactly; bad files are named."""

import gzip
import json
from dataclasses import asdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from metagame.envs import Replay, make
from metagame.envs.replay import simulate, to_jsonable, verify


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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_turn_based_replay_round_trip_reproduces_history_and_returns(tmp_path, seed):
    replay, history = _record_aec("openspiel:leduc_poker", seed)
    loaded = Replay.load(replay.save(tmp_path / "m.replay.json.gz"))
    assert loaded == replay
    verify(loaded)
    *_, (env, steps, _, _) = simulate(loaded)
    assert env.game_state.history() == history and steps == len(replay.actions)


def test_parallel_replay_round_trip_with_array_kwargs_and_continuous_actions(
    tmp_path, record_parallel
):
    def sample(env, agent, obs, rng):
        return env.action_space(agent).sample()

    replay, env = record_parallel("gym:Pendulum-v1", 4, sample, max_episode_steps=20)
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


# --- malformed fields, exact round trips --------------------------------------------------------


def _write(path, data):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(data, f)
    return path


GOOD = {"env": "openspiel:kuhn_poker", "env_kwargs": {}, "seed": 3, "kind": "aec",
        "actions": [["player_0", 1], ["player_1", 0]]}  # fmt: skip
ARRAY = {"__ndarray__": [1, 2], "dtype": "int64", "shape": [2]}


@pytest.mark.parametrize(
    "change, key",
    [
        ({"frames": []}, "unknown keys: 'frames'"),
        ({"env_kwargs": {"starts": {**ARRAY, "dtype": "no_such_type"}}}, "env_kwargs.starts"),
        ({"env_kwargs": {"starts": {**ARRAY, "dtype": "object"}}}, "env_kwargs.starts"),
        ({"env_kwargs": {"starts": {**ARRAY, "dtype": 7}}}, "env_kwargs.starts"),
        ({"env_kwargs": {"starts": {**ARRAY, "shape": [3]}}}, "env_kwargs.starts"),
        ({"env_kwargs": {"s": {"__ndarray__": [[1], [1, 2]], "dtype": "int8"}}}, "env_kwargs.s"),
        ({"metadata": {"x": {"__ndarray__": ["a"], "dtype": "float32"}}}, "metadata.x"),
        ({"seed": 1.5}, "'seed'"),
        ({"seed": "3"}, "'seed'"),
        ({"seed": True}, "'seed'"),
        ({"seed": -1}, "'seed'"),
        ({"actions": [["player_0"]]}, r"actions\[0\]"),
        ({"actions": [["player_0", 1], "player_1"]}, r"actions\[1\]"),
        ({"actions": [["player_0", 1, 2]]}, r"actions\[0\]"),
        ({"actions": [[0, 1]]}, r"actions\[0\]"),
        ({"actions": [["player_0", "fold"]]}, r"actions\[0\]\[1\]"),
        ({"actions": [["player_0", {**ARRAY, "dtype": "complex128"}]]}, r"actions\[0\]\[1\]"),
        ({"actions": {"player_0": 1}}, "'actions'"),
        ({"kind": "parallel"}, r"actions\[0\]"),
        ({"kind": "turns"}, "'kind'"),
        ({"env": 5}, "'env'"),
        ({"version": 2}, "'version'"),
        ({"version": "1"}, "'version'"),
        ({"returns": {"player_0": "win"}}, "'returns'"),
        ({"policies": ["a"]}, "'policies'"),
        ({"env_kwargs": []}, "'env_kwargs'"),
    ],
)
def test_malformed_replay_fields_name_the_file_and_key(tmp_path, change, key):
    path = _write(tmp_path / "m.replay.json.gz", {**GOOD, **change})
    with pytest.raises(ValueError, match=rf"m.replay.json.gz: .*{key}"):
        Replay.load(path)


def test_a_good_replay_file_loads_and_a_list_is_not_a_replay(tmp_path):
    assert Replay.load(_write(tmp_path / "g.replay.json.gz", GOOD)).actions == GOOD["actions"]
    with pytest.raises(ValueError, match="g.replay.json.gz: not a JSON object"):
        Replay.load(_write(tmp_path / "g.replay.json.gz", [GOOD]))


def test_nothing_is_written_when_a_field_is_not_json(tmp_path):
    replay = Replay(env="soccer", env_kwargs={"f": object()}, seed=0, kind="parallel")
    with pytest.raises(ValueError, match="soccer cannot be written"):
        replay.save(tmp_path / "x.replay.json.gz")
    assert list(tmp_path.iterdir()) == []


names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=6)
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | names
dtypes = st.sampled_from(["bool", "int8", "uint16", "int64", "uint64", "float16", "float32",
                          "float64", "<U3"])  # fmt: skip


@st.composite
def arrays(draw):
    dtype = np.dtype(draw(dtypes))
    shape = draw(st.lists(st.integers(0, 3), max_size=3))
    return draw(hnp.arrays(dtype, shape))


values = st.recursive(
    scalars | arrays(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=8,
)
numbers = st.integers(-(2**40), 2**40) | st.floats(allow_nan=False)
actions = numbers | st.lists(st.floats(width=32, allow_nan=False), max_size=3) | arrays()


@st.composite
def replays(draw):
    kind = draw(st.sampled_from(["parallel", "aec"]))
    agents = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    if kind == "parallel":
        entry = st.fixed_dictionaries({a: actions for a in agents})
    else:
        entry = st.tuples(st.sampled_from(agents), st.none() | actions).map(list)
    recorded = [to_jsonable(a) for a in draw(st.lists(entry, max_size=6))]
    return Replay(
        env=draw(names),
        env_kwargs=draw(st.dictionaries(names, values, max_size=4)),
        seed=draw(st.integers(0, 2**64)),
        kind=kind,
        actions=recorded,
        policies=draw(st.fixed_dictionaries({a: names for a in agents})),
        returns=draw(st.fixed_dictionaries({a: st.floats() for a in agents})),
        metadata=draw(st.dictionaries(names, values, max_size=3)),
    )


def _same(a, b):
    """Exact equality: types, dtypes, shapes and bits (any NaN matches any NaN: JSON keeps no
    NaN payload)."""
    if isinstance(a, np.ndarray):
        if not (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape):
            return False
        nan_a, nan_b = (np.isnan(x) if x.dtype.kind == "f" else x != x for x in (a, b))
        return np.array_equal(nan_a, nan_b) and a[~nan_a].tobytes() == b[~nan_b].tobytes()
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return (isinstance(b, list) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b)))  # fmt: skip
    if isinstance(a, float):
        return isinstance(b, float) and (a == b or (a != a and b != b)) and str(a) == str(b)
    return type(a) is type(b) and a == b


@settings(max_examples=100, deadline=None)
@given(replays())
def test_replays_round_trip_exactly(tmp_path_factory, replay):
    path = replay.save(tmp_path_factory.mktemp("rt") / "r.replay.json.gz")
    loaded = Replay.load(path)
    assert _same(asdict(replay), asdict(loaded))
    assert _same(asdict(loaded), asdict(Replay.load(loaded.save(path))))
