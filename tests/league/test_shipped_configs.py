"""Every shipped config runs from start to solve in a short form (one iteration, tiny batches),
and the league's roles behave as the configs say: three tied seats for 3-player Kuhn, two
populations for pursuit-evasion and traffic, one team for MAPF, one player for CartPole, two
tied seats for the LLM duel (trained by a sequence-level learner, without RLlib)."""

from pathlib import Path

import numpy as np
import pytest

from metagame.league.config import SEQUENCE_ALGOS, load
from metagame.league.evaluation import CROSS_PLAY
from metagame.league.population import solve_population
from metagame.league.runner import league_for
from metagame.league.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_local")]

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SHORT = {
    "budget.iterations": 1,
    "budget.wall_time_s": None,
    "learners.hparams": {
        "lr": 0.001,
        "train_batch_size_per_learner": 64,
        "minibatch_size": 32,
        "num_epochs": 1,
    },
    "evaluation.episodes_per_pair": 2,
    "evaluation.replay_fraction": 0.0,
}
# the sequence-level learners' short form: few, small updates; short answers
SEQUENCE_SHORT = {
    "learners.hparams": {"group": 2, "prompts_per_step": 2, "updates_per_iteration": 1},
    "evaluation.episodes_per_pair": 4,
}
# the mapf and traffic games in their shipped sizes, with short episodes for the short form
KWARGS = {
    "mapf.yaml": {"max_steps": 8},
    "mapf_mappo.yaml": {"max_steps": 8},
    "traffic.yaml": {"max_steps": 10},
    "llm_duel.yaml": {"max_tokens": 4},
    "traffic_drivers.yaml": {"max_steps": 10},
}
ROLES = {
    "quickstart.yaml": ({"player": ("player_0", "player_1")}, 2),
    "kuhn3.yaml": ({"player": ("player_0", "player_1", "player_2")}, 3),
    "leduc.yaml": ({"player": ("player_0", "player_1")}, 2),
    "kuhn_exact.yaml": ({"player": ("player_0", "player_1")}, 2),
    "soccer.yaml": ({"player": ("player_0", "player_1")}, 2),
    "preference.yaml": ({"player": ("player_0", "player_1")}, 2),
    "pursuit.yaml": ({"pursuer": ("pursuer",), "evader": ("evader",)}, 2),
    "traffic.yaml": ({"vehicle": ("vehicle",), "signal": ("signal",)}, 2),
    "traffic_drivers.yaml": ({"vehicle": ("vehicle",)}, 1),
    "mapf.yaml": ({"agent": ("agent",)}, 1),
    "mapf_mappo.yaml": ({"agent": ("agent",)}, 1),
    "cartpole.yaml": ({"player": ("player_0",)}, 1),
    "llm_duel.yaml": ({"player": ("player_0", "player_1")}, 2),
}


def test_every_shipped_config_is_covered():
    assert {p.name for p in CONFIGS.glob("*.yaml")} == set(ROLES)


@pytest.mark.parametrize("name", sorted(ROLES))
def test_shipped_config_passes_the_start_checks_as_shipped(name, tmp_path):
    """Every shipped setting (not only the short form's) is accepted by the game and RLlib."""
    league_for(load(CONFIGS / name), tmp_path / "run").check()
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", sorted(ROLES))
def test_shipped_config_runs_from_start_to_solve(name, tmp_path):
    cfg = load(CONFIGS / name)
    changes = {**SHORT, **(SEQUENCE_SHORT if cfg.learners.algo in SEQUENCE_ALGOS else {})}
    if name in KWARGS:
        changes["game.kwargs"] = {**cfg.game.kwargs, **KWARGS[name]}
    cfg = cfg.with_overrides(**changes)
    info = league_for(cfg, tmp_path / "run").run()
    assert info.status == "finished" and info.iteration == 1
    exact = cfg.game.name.startswith("openspiel:")  # the mixture's exact exploitability
    assert (info.exploitability is not None) == exact and info.nash_conv >= -1e-9
    populations, seats = ROLES[name]
    with Store(tmp_path / "run", readonly=True) as store:
        players = store.players()
        matches = store.matches()
        answer = solve_population(store)
    # every population has its initial player (and a snapshot if its mode took one)
    assert {p.population for p in players} == set(populations)
    assert set(answer.players) == set(populations)
    assert sum(len(v) for v in answer.players.values()) == len(players)
    for pop, roles in populations.items():
        assert [r for r, p in answer.roles.items() if p == pop] == list(
            roles if len(populations) == 1 else [pop]
        )
        assert np.isclose(answer.probs[pop].sum(), 1.0) and (answer.probs[pop] >= 0).all()
    profiles = [m for m in matches if not m.key.startswith(CROSS_PLAY)]
    assert profiles or len(players) == 1  # one player of a tied game has nobody to meet yet
    assert all(len(m.players) == seats == len(m.returns) for m in profiles)
    assert answer.nash_conv >= -1e-9
    if name.startswith("mapf"):  # the team's two members also played each other in cross-play
        crossed = [m for m in matches if m.key.startswith(CROSS_PLAY)]
        assert crossed and all(m.seats == ["agent/even", "agent/odd"] for m in crossed)
    if name == "traffic_drivers.yaml":  # the fixed drivers are members, met in cross-play
        fixed = {p.id for p in players if p.kind == "fixed"}
        assert len(fixed) == 2 and all(p.startswith("fixed_vehicle_driver_") for p in fixed)
        crossed = [m for m in matches if m.key.startswith(CROSS_PLAY)]
        assert fixed <= {p for m in crossed for p in m.players}
