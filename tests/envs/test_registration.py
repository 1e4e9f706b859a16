"""make() and registry(): names, closest-match errors, kwarg checks."""

from typing import Literal

import pytest

from metagame.envs import check_kwargs, make, registry


def test_registry_lists_families_and_every_openspiel_and_gym_game():
    names = registry()
    for name in [
        "mapf",
        "soccer",
        "traffic",
        "preference",
        "openspiel:kuhn_poker",
        "openspiel:goofspiel",
        "gym:CartPole-v1",
        "gym:Pendulum-v1",
    ]:
        assert name in names
        assert isinstance(names[name], str) and names[name]
    assert "openspiel:" not in names  # prefixes are expanded into their members
    assert set(registry(expand=False)) >= {"openspiel:", "gym:", "mapf"}
    assert not any(n.startswith("openspiel:mfg_") for n in names)  # mean-field games excluded


def test_unknown_name_lists_the_closest_registered_names():
    with pytest.raises(ValueError) as err:
        make("socer")
    assert "unknown environment 'socer'" in str(err.value)
    assert "soccer" in str(err.value)
    with pytest.raises(ValueError, match="must be a string"):
        make(3)


def _factory(
    size: int,
    speed: float = 1.0,
    mode: Literal["a", "b"] = "a",
    label: str | None = None,
    flag: bool = False,
    names: list[str] | None = None,
    seed: int | None = None,
):
    return size, speed, mode, label, flag, names, seed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sise": 3}, "unknown parameter 'sise'; did you mean size"),
        ({"size": "3"}, "parameter 'size' must be int"),
        ({"size": 2.5}, "parameter 'size' must be int"),
        ({"size": True}, "parameter 'size' must be int"),
        ({"size": 1, "speed": "fast"}, "parameter 'speed' must be float"),
        ({"size": 1, "mode": "c"}, r"parameter 'mode' must be one of \['a', 'b'\]"),
        ({"size": 1, "label": 7}, "parameter 'label' must be str"),
        ({"size": 1, "flag": 1}, "parameter 'flag' must be bool"),
        ({"size": 1, "speed": float("nan")}, "parameter 'speed' must be a finite number"),
        ({"size": 1, "speed": float("-inf")}, "parameter 'speed' must be a finite number"),
        ({"size": 2**63}, "parameter 'size' must fit in 64 bits"),
        ({"size": 1, "speed": -(2**70)}, "parameter 'speed' must fit in 64 bits"),
        ({"size": 1, "names": "ab"}, "parameter 'names' must be a list"),
        ({"size": 1, "names": ["a", 2]}, r"parameter 'names\[1\]' must be str"),
        ({"size": 1, "seed": -1}, "parameter 'seed' must be a non-negative integer"),
        ({"size": 1, "seed": 1.0}, "parameter 'seed' must be a non-negative integer"),
    ],
)
def test_check_kwargs_names_the_bad_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_kwargs("toy", _factory, kwargs)


def test_check_kwargs_accepts_well_typed_values():
    import numpy as np

    check_kwargs("toy", _factory, {"size": np.int64(3), "speed": 2, "mode": "b", "label": None})
    check_kwargs("toy", _factory, {"size": 1, "names": ("a", "b"), "seed": np.uint32(5)})


@pytest.mark.parametrize(
    ("name", "kwargs", "param"),
    [
        ("mapf", {"goal_reward": float("nan")}, "goal_reward"),
        ("traffic", {"speed_weight": float("inf")}, "speed_weight"),
        ("traffic", {"seed": -3}, "seed"),
        ("soccer", {"gamma": float("nan")}, "gamma"),
        ("preference", {"candidates": 3}, "candidates"),
        ("mapf", {"obs_radius": 10**30}, "obs_radius"),
        ("matrix", {"rounds": 10**30}, "rounds"),
    ],
)
def test_families_refuse_non_finite_floats_negative_seeds_and_non_lists(name, kwargs, param):
    with pytest.raises(ValueError, match=f"parameter '{param}'"):
        make(name, **kwargs)
