"""Fuzzing the public entry points that read user input (hypothesis).

Every case ends in one of two ways: a ``ValueError`` whose message names the problem (the
keyword, file or game at fault), or success (an env that resets and steps, a policy that acts,
a replay or map that loads); never another exception type, never a crash. Covered:
``metagame.envs.make`` over every registered name with malformed keyword arguments,
``load_policy`` on corrupted checkpoint directories, ``Replay.load`` on mutated files, and the
Moving AI ``.map``/``.scen`` readers on mutated files. ``OUTCOMES`` counts the cases; the
module prints the counts at the end (``pytest -s``).
"""

import collections
import gzip
import inspect
import json
import math
import re
import shutil
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metagame.agents.policy import (
    MixedStrategyPolicy,
    RandomPolicy,
    TabularPolicy,
    load_policy,
    save_policy,
)
from metagame.envs import Replay, make, registry
from metagame.envs.mapf import maps
from metagame.envs.registration import _split

OUTCOMES: collections.Counter = collections.Counter()


def fuzz(examples: int) -> settings:
    """Deterministic, capped, no deadline: the module stays well under a minute."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    by_entry = collections.defaultdict(dict)
    for (entry, outcome), count in sorted(OUTCOMES.items()):
        by_entry[entry][outcome] = count
    print("\nfuzz outcomes:", json.dumps(by_entry, sort_keys=True))


def _count(entry: str, outcome: str) -> None:
    OUTCOMES[entry, outcome] += 1


# --- make ----------------------------------------------------------------------------------------

BAD_VALUES = [-5, -1, 0, 1, 3, 2.5, math.nan, math.inf, -math.inf, "not-a-thing", "", None,
              True, [], [-1], {}, np.int64(-2), np.float32(0.5), 10**30]  # fmt: skip
JSON_VALUES = [v for v in BAD_VALUES if type(v) in (int, float, str, bool, list, dict, type(None))]
GYM_KEYS = ["max_episode_steps", "render_mode", "disable_env_checker"]
# Made by name, these fail inside pyspiel before metagame sees them (SpielError
# "ObservationTensorShape unimplemented"; IndexError "map::at"): reported on issue 14 for the
# OpenSpiel bridge.
NAMES = sorted(registry())


@cache
def _parameters(name: str) -> list[str]:
    """The keyword arguments ``name`` accepts (a family's signature, a game's parameters)."""
    spec, rest = _split(name)
    if spec.name == "gym:":
        return GYM_KEYS
    if spec.name == "openspiel:":
        return ["render_mode"]  # game parameters are pyspiel's to check
    factory = spec.load()
    target = factory.__init__ if inspect.isclass(factory) else factory
    return [p for p in inspect.signature(target).parameters if p != "self"]


@cache
def _baseline_error(name: str) -> str | None:
    """The ValueError ``make(name)`` gives without keyword arguments (None if it works)."""
    try:
        make(name).close()
    except ValueError as err:
        return str(err)
    return None


def _legal(space, observation):
    mask = observation.get("action_mask") if isinstance(observation, dict) else None
    if mask is not None and np.asarray(mask).any():
        return int(np.flatnonzero(mask)[0])
    return space.sample()


def _reset_and_step(env) -> None:
    if hasattr(env, "agent_iter"):
        env.reset(seed=0)
        agent = env.agent_selection
        observation, _, terminated, truncated, _ = env.last()
        env.step(None if terminated or truncated else _legal(env.action_space(agent), observation))
        return
    observations, _ = env.reset(seed=0)
    env.step({a: _legal(env.action_space(a), observations[a]) for a in env.agents})


@st.composite
def make_calls(draw):
    name = draw(st.sampled_from(NAMES))
    keys = _parameters(name) + ["colour", "seed_"]
    chosen = draw(st.lists(st.sampled_from(keys), max_size=3, unique=True))
    return name, {k: draw(st.sampled_from(BAD_VALUES)) for k in chosen}


def _names_the_problem(name: str, kwargs: dict, message: str) -> bool:
    """The message names a parameter of the family, a given string value (a file or game
    name), or is the error the name gives without keyword arguments."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", message))
    if words & (set(kwargs) | set(_parameters(name))):
        return True
    if any(isinstance(v, str) and len(v) > 2 and v in message for v in kwargs.values()):
        return True
    return message == _baseline_error(name)


@fuzz(600)
@given(make_calls())
def test_make_with_malformed_kwargs_names_the_key_or_works(call):
    name, kwargs = call
    try:
        env = make(name, **kwargs)
    except ValueError as err:
        assert _names_the_problem(name, kwargs, str(err)), (name, kwargs, str(err))
        _count("make", "ValueError")
        return
    try:
        _reset_and_step(env)
    finally:
        env.close()
    _count("make", "works")


# --- load_policy -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """One checkpoint of every kind: random (Discrete and Box), mixed, tabular, RLModule."""
    import gymnasium as gym

    from metagame.agents.rllib import module_spec

    root = tmp_path_factory.mktemp("checkpoints")
    box = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    saved = [
        save_policy(RandomPolicy(4, seed=1), root / "random"),
        save_policy(RandomPolicy(box, seed=1), root / "box"),
        save_policy(MixedStrategyPolicy([0.25, 0.75]), root / "mixed"),
        save_policy(TabularPolicy(np.array([[0.5, 0.5], [1.0, 0.0]])), root / "tabular"),
        save_policy(module_spec("openspiel:tic_tac_toe", fcnet_hiddens=[4]).build(), root / "m"),
    ]
    return saved


def _flip(data: bytes, positions: list[int], values: list[int]) -> bytes:
    out = bytearray(data)
    for p, v in zip(positions, values):
        if out:
            out[p % len(out)] = v
    return bytes(out)


@st.composite
def corruptions(draw):
    """(checkpoint index, file name, mutation) where mutation maps bytes to bytes or None."""
    index = draw(st.integers(0, 4))
    name = draw(st.sampled_from(["policy.json", "weights.pt"] if index == 4 else ["policy.json"]))
    kind = draw(st.sampled_from(["flip", "truncate", "delete", "json"]))
    if kind == "flip":
        positions = draw(st.lists(st.integers(0, 2**20), min_size=1, max_size=4))
        values = draw(st.lists(st.integers(0, 255), min_size=len(positions)))
        return index, name, lambda data: _flip(data, positions, values)
    if kind == "truncate":
        fraction = draw(st.floats(0, 1, exclude_max=True))
        return index, name, lambda data: data[: int(len(data) * fraction)]
    if kind == "delete":
        return index, name, lambda data: None
    value = draw(st.sampled_from(JSON_VALUES + [{"type": "Discrete", "n": -2}]))
    path = draw(st.lists(st.integers(0, 50), min_size=1, max_size=4))
    return index, "policy.json", lambda data: _json_replace(data, path, value)


def _json_replace(data: bytes, path: list[int], value) -> bytes:
    """Replaces the value found by following ``path`` (indices into keys or items)."""
    document = json.loads(data)
    node = document
    for step in path:
        children = list(node) if isinstance(node, dict) else range(len(node))
        if not isinstance(node, dict | list) or not children:
            break
        key = list(children)[step % len(children)]
        if not isinstance(node[key], dict | list) or step == path[-1]:
            node[key] = value
            break
        node = node[key]
    return json.dumps(document).encode()


def _act(policy) -> None:
    codec = getattr(policy, "codec", None)
    if codec is not None:
        policy.act(codec.raw_space.sample())
    elif isinstance(policy, TabularPolicy):
        policy.act(0)
    elif isinstance(policy, RandomPolicy) and policy.n is None and policy.box is None:
        policy.act(None, np.ones(3))  # saved without an action space: acts on masks
    else:
        policy.act(None)


@fuzz(200)
@given(corruptions())
def test_corrupted_checkpoints_raise_value_errors_naming_the_file(
    checkpoints, tmp_path_factory, case
):
    index, name, mutate = case
    directory = tmp_path_factory.mktemp("corrupt") / "ckpt"
    shutil.copytree(checkpoints[index], directory)
    mutated = mutate((directory / name).read_bytes())
    if mutated is None:
        (directory / name).unlink()
    else:
        (directory / name).write_bytes(mutated)
    try:
        policy = load_policy(directory)
    except ValueError as err:
        assert str(directory) in str(err), str(err)
        _count("load_policy", "ValueError")
        return
    _act(policy)
    _count("load_policy", "works")


# --- replays -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def replay_files(tmp_path_factory):
    """A turn-based replay (Leduc poker) and a parallel one with array kwargs (MAPF)."""
    from metagame.agents.arena import play

    root = tmp_path_factory.mktemp("replays")
    aec = play("openspiel:leduc_poker", [RandomPolicy(), RandomPolicy()], seed=1, record=True)
    grid = maps.random_map(6, 6, 0.2, seed=0)
    kwargs = {"map": grid, "num_agents": 2, "max_steps": 6}
    par = play("mapf", [RandomPolicy(), RandomPolicy()], seed=2, env_kwargs=kwargs, record=True)
    return [
        aec.replays[0].save(root / "aec.replay.json.gz"),
        par.replays[0].save(root / "parallel.replay.json.gz"),
    ]


@st.composite
def replay_mutations(draw):
    index = draw(st.integers(0, 1))
    layer = draw(st.sampled_from(["gzip", "json", "text"]))
    positions = draw(st.lists(st.integers(0, 2**16), min_size=1, max_size=3))
    values = draw(st.lists(st.integers(0, 255), min_size=len(positions)))
    if layer == "gzip":
        return index, lambda data: _flip(data, positions, values)
    if layer == "text":
        chars = draw(st.lists(st.sampled_from(list(b'0123456789-.,:[]{}"aeln ')), min_size=3))
        return index, lambda data: gzip.compress(_flip(gzip.decompress(data), positions, chars))
    value = draw(st.sampled_from(JSON_VALUES + [{"__ndarray__": [1], "dtype": "V8"}]))
    path = draw(st.lists(st.integers(0, 50), min_size=1, max_size=5))
    return index, lambda data: gzip.compress(_json_replace(gzip.decompress(data), path, value))


@fuzz(300)
@given(replay_mutations())
def test_mutated_replays_raise_value_errors_naming_the_file(replay_files, tmp_path_factory, case):
    index, mutate = case
    path = tmp_path_factory.mktemp("replay") / replay_files[index].name
    path.write_bytes(mutate(replay_files[index].read_bytes()))
    try:
        Replay.load(path)
    except ValueError as err:
        assert str(path) in str(err), str(err)
        _count("Replay.load", "ValueError")
        return
    _count("Replay.load", "works")


# --- Moving AI maps and scenarios --------------------------------------------------------------

MAP_TEXT = (maps.DATA_DIR / "empty-8-8.map").read_bytes()
SCEN_TEXT = b"version 1\n" + b"".join(
    f"0\tempty-8-8.map\t8\t8\t{i}\t{7 - i}\t{7 - i}\t{i}\t14\n".encode() for i in range(8)
)


@st.composite
def text_mutations(draw):
    target = draw(st.sampled_from(["map", "scen"]))
    kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
    position = draw(st.integers(0, 2**12))
    noise = draw(st.binary(min_size=1, max_size=4) | st.sampled_from([b"-", b"x", b"\t", b"\n"]))

    def mutate(data: bytes) -> bytes:
        p = position % (len(data) + 1)
        if kind == "flip":
            return data[:p] + noise + data[p + len(noise) :]
        if kind == "insert":
            return data[:p] + noise + data[p:]
        if kind == "delete":
            return data[:p] + data[p + len(noise) :]
        return data[:p]

    return target, mutate


@fuzz(400)
@given(text_mutations())
def test_mutated_maps_and_scenarios_name_the_file(tmp_path_factory, case):
    target, mutate = case
    root = tmp_path_factory.mktemp("mapf")
    map_file, scen_file = root / "empty-8-8.map", root / "s.scen"
    map_file.write_bytes(mutate(MAP_TEXT) if target == "map" else MAP_TEXT)
    scen_file.write_bytes(mutate(SCEN_TEXT) if target == "scen" else SCEN_TEXT)
    try:
        path, starts, goals = maps.load_scenario(str(scen_file))
        grid = maps.load_map(path)
    except ValueError as err:
        assert str(map_file if target == "map" else scen_file) in str(err), str(err)
        _count("load_scenario/load_map", "ValueError")
        return
    assert Path(path) == map_file and grid.dtype == bool
    for cells in (starts, goals):
        assert not grid[cells[:, 0], cells[:, 1]].any()
    _count("load_scenario/load_map", "works")
