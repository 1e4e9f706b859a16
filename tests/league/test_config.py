"""The league config schema: defaults, key-path errors, YAML round-trip."""

import re

import pytest
import yaml

from metagame.league import config


def test_defaults_are_filled_and_round_trip(tmp_path):
    cfg = config.validate({"game": {"name": "openspiel:kuhn_poker"}})
    assert cfg.mode.name == "selfplay" and cfg.matchmaking.pfsp == "hard"
    path = config.save(cfg, tmp_path / "resolved.yaml")
    assert config.load(path) == cfg
    assert yaml.safe_load(path.read_text())["evaluation"]["episodes_per_pair"] == 40


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"game": {"name": "x"}, "matchmaking": {"pfsp": "hardd"}},
            "config key matchmaking.pfsp: must be one of 'hard', 'variance', 'linear'",
        ),
        (
            {"game": {"name": "x"}, "mode": {"name": "psro", "meta_solver": "nashh"}},
            "config key mode.meta_solver: must be one of 'nash', 'alpharank'",
        ),
        (
            {"game": {"name": "x"}, "mode": {"name": "psro", "snapshot_every": 2}},
            "config key mode.snapshot_every: unknown key; allowed: name, meta_solver",
        ),
        (
            {"game": {"name": "x"}, "mode": {"snapshot_every": 2}},
            "config key mode: needs a name, one of ['selfplay', 'psro', 'xdo', 'alphastar']",
        ),
        (
            {"game": {"name": "x"}, "mode": "league"},
            "config key mode: name must be one of ['selfplay', 'psro', 'xdo', 'alphastar'], "
            "got 'league'",
        ),
        (
            {"game": {"name": "x", "roles": "tie"}},
            "config key game.roles: must be one of 'auto', 'tied' or 'separate'",
        ),
        (
            {"game": {"name": "x"}, "budget": {"iterationz": 3}},
            "config key budget.iterationz: unknown key; allowed: steps, wall_time_s, iterations",
        ),
        ({}, "config key game: is required"),
        (
            {"game": {"name": "x"}, "budget": {"iterations": None}},
            "config key budget: set at least one of steps, wall_time_s, iterations",
        ),
        ({"game": {"name": "x"}, "matchmaking": {"slots": 0}}, "config key matchmaking.slots"),
        ([1, 2], "a league config is a mapping"),
    ],
)
def test_errors_name_the_key_path(data, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        config.validate(data)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="config file not found: .*nope.yaml"):
        config.load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("game: [unclosed")
    with pytest.raises(ValueError, match=r"bad.yaml, line 1: not valid YAML"):
        config.load(bad)


def test_overrides_by_dotted_path():
    cfg = config.validate({"game": {"name": "x"}})
    changed = cfg.with_overrides(**{"ray.address": "auto", "seed": 7})
    assert changed.ray.address == "auto" and changed.seed == 7 and cfg.seed == 0
    with pytest.raises(ValueError, match="config key mode"):
        cfg.with_overrides(mode="league")


def test_a_mode_section_holds_its_own_settings_only(tmp_path):
    """``mode: psro`` is short for ``mode: {name: psro}``; the resolved file spells it out, and
    a mode's settings are defaults of that mode's section alone."""
    cfg = config.validate({"game": {"name": "x"}, "mode": "psro"})
    assert cfg.mode == config.PSROConfig()
    path = config.save(cfg, tmp_path / "resolved.yaml")
    assert yaml.safe_load(path.read_text())["mode"] == {
        "name": "psro",
        "meta_solver": "nash",
        "iterations_per_response": 2,
        "response_patience": None,
        "response_min_gain": 0.01,
        "reset_response": False,
        "oracle": "rl",
    }
    assert config.load(path) == cfg
    bad = tmp_path / "bad.yaml"
    bad.write_text("game: {name: x}\nmode:\n  name: alphastar\n  meta_solver: nash\n")
    with pytest.raises(ValueError, match=r"bad.yaml, line 4: config key mode.meta_solver"):
        config.load(bad)
