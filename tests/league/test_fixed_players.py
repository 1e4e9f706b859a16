"""Fixed players (config ``fixed_players``): rule-based members of a population that never
train, hold RLlib modules of their own (never a slot), are drawn in training, evaluated and
rated like any player, and are never retired."""

import numpy as np
import pytest

from metagame.agents.rllib.drivers import TrafficDriverRLModule
from metagame.agents.rllib.modules import MaskedRandomRLModule
from metagame.league.config import validate
from metagame.league.runner import League

INTERSECTION = {"scenario": "intersection", "num_controlled": 3, "max_steps": 30}
TINY = {"lr": 0.001, "train_batch_size_per_learner": 256, "minibatch_size": 64, "num_epochs": 1}


def config(game, fixed, **overrides):
    return validate(
        {
            "game": game,
            "fixed_players": fixed,
            "learners": {"hparams": TINY, "model": {"fcnet_hiddens": [16]}},
            "mode": {"name": "selfplay", "snapshot_every": 1},
            "evaluation": {"episodes_per_pair": 2, "replay_fraction": 0.0},
            "ray": {"num_env_runners": 0},
            **overrides,
        }
    )


@pytest.mark.parametrize(
    ("game", "fixed", "message"),
    [
        (
            {"name": "pursuit_evasion"},
            [{"population": "pursuer", "policy": "driver:mild"}],
            "fixed_players.0.policy: driver:mild drives traffic vehicles; the game is pursuit",
        ),
        (
            {"name": "pursuit_evasion"},
            [{"population": "vehicle", "policy": "random"}],
            "fixed_players.0.population: 'vehicle' is not a population with opponents",
        ),
        (
            {"name": "mapf", "kwargs": {"num_agents": 2}},
            [{"population": "agent", "policy": "random"}],
            "fixed_players.0.population: 'agent' is not a population with opponents",
        ),
        (
            {"name": "traffic", "kwargs": INTERSECTION, "crowds": ["vehicle"]},
            [{"population": "vehicle", "policy": "random"}] * 2,
            "fixed_players.1: random is already in vehicle",
        ),
    ],
)
def test_fixed_players_a_game_cannot_take_are_refused_at_start(game, fixed, message, tmp_path):
    with pytest.raises(ValueError, match=f"config key {message}"):
        League(config(game, fixed), tmp_path / "run").check()
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_fixed_drivers_are_members_that_never_train_nor_retire(tmp_path):
    cfg = config(
        {"name": "traffic", "kwargs": INTERSECTION, "crowds": ["vehicle"]},
        [
            {"population": "vehicle", "policy": "driver:mild"},
            {"population": "vehicle", "policy": "driver:chaotic"},
            {"population": "vehicle", "policy": "random"},
        ],
        max_players=3,
        budget={"iterations": 3},
    )
    lg = League(cfg, tmp_path / "run")
    lg.setup()
    try:
        infos = [lg.step() for _ in range(3)]
        modules = lg.algo.learner_group._learner.module
        fixed = {p.id: p for p in lg.store.players() if p.kind == "fixed"}
        active = {p.id for p in lg.store.players(active_only=True)}
        games = [it["metrics"]["games"] for it in lg.store.iterations()]
        matches = lg.store.matches()
        meta = lg.store.meta_strategies()[-1]
    finally:
        lg.algo.stop()
        lg.store.close()
        lg.run_dir.release()
    assert sorted(fixed) == [
        "fixed_vehicle_driver_chaotic_002",
        "fixed_vehicle_driver_mild_001",
        "fixed_vehicle_random_003",
    ]
    assert isinstance(modules["fixed_vehicle_driver_mild"], TrafficDriverRLModule)
    assert isinstance(modules["fixed_vehicle_random"], MaskedRandomRLModule)
    assert set(lg.algo.config.policies_to_train) == {"main"}
    # the population cap retired snapshots, never a fixed player, and no slot held one
    assert set(fixed) <= active and len(active) == 3 + 1
    assert all(not set(i.slots.values()) & set(fixed) for i in infos)
    # drawn as crowd-mates in training, evaluated, and weighed by the meta-strategy
    met = {key.split(" vs ")[1] for g in games for key in g}
    assert met & set(fixed)
    for pid in fixed:
        assert any(pid in m.players for m in matches)
    assert set(fixed) <= set(meta["players"]) and np.isclose(sum(meta["probs"]), 1.0)
