"""The `league` CLI on run directories built without Ray: status, solve, errors, checkpoints."""

import fcntl
import json
import subprocess
import sys

import numpy as np
import pytest

from metagame.agents.arena import play
from metagame.agents.policy import MixedStrategyPolicy, save_policy
from metagame.league import cli
from metagame.league.config import LeagueConfig, save, validate
from metagame.league.evaluation import evaluate, policy_cache, rate
from metagame.league.population import CheckpointError, load_mixture, load_player
from metagame.league.store import LOCK_FILE, Store

STRATEGIES = {
    "rock": [1, 0, 0],
    "paper": [0, 1, 0],
    "scissors": [0, 0, 1],
    "mostly_rock": [0.8, 0.1, 0.1],
}


def build_run(run_dir, game="matrix", kwargs=None, strategies=STRATEGIES):
    """A league run directory whose players are fixed mixed strategies (no training)."""
    kwargs = {"game": "rps"} if kwargs is None else kwargs
    cfg = validate({"game": {"name": game, "kwargs": kwargs}})
    with Store(run_dir, create=True) as store:
        store.set_meta(
            config=cfg.model_dump(mode="json"), status="finished", iteration=1, steps=0, wall=0.0
        )
        save(cfg, run_dir / "config.yaml")
        for role, strategy in strategies.items():
            path = f"players/{store.next_player_id(role)}"
            save_policy(MixedStrategyPolicy(strategy), run_dir / path)
            store.add_player(role, parent=None, step=0, iteration=0, checkpoint=path, reason="x")
        seats = ("player_0", "player_1")
        policy = policy_cache(run_dir)
        evaluate(
            store,
            (game, kwargs, seats),
            policy,
            episodes_per_pair=20,
            replay_fraction=0.1,
            seed=0,
            iteration=1,
        )
        rate(store, (game, kwargs, seats), policy, iteration=1)
    return run_dir


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "metagame.league.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_status_and_solve_json(tmp_path, capsys):
    run = build_run(tmp_path / "run")
    assert cli.main(["status", str(run), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["league_size"] == 4 and status["matches"] == 6 * 20
    assert {r["player"] for r in status["standings"]} == {
        "rock_000",
        "paper_001",
        "scissors_002",
        "mostly_rock_003",
    }
    assert sum(r["nash"] for r in status["standings"]) == pytest.approx(1.0)
    assert cli.main(["solve", str(run), "--json"]) == 0
    solved = json.loads(capsys.readouterr().out)
    mix = dict(zip(solved["players"], solved["probabilities"]))
    # pure rock, paper, scissors: the Nash of the empirical (exact) meta-game is uniform
    for pid in ("rock_000", "paper_001", "scissors_002"):
        assert mix[pid] == pytest.approx(1 / 3, abs=1e-6)
    policy = load_mixture(solved["policy"])
    result = play(
        "matrix",
        [policy, MixedStrategyPolicy([1, 0, 0])],
        episodes=300,
        seed=0,
        env_kwargs={"game": "rps"},
    )
    assert abs(result.mean_returns()[0]) < 0.2  # the uniform mixture is unexploitable


def test_minimax_winner_of_a_preference_population(tmp_path, capsys):
    P = [[0.5, 0.9, 0.2], [0.1, 0.5, 0.7], [0.8, 0.3, 0.5]]
    run = build_run(
        tmp_path / "run",
        "preference",
        {"P": P},
        {"c0": [1, 0, 0], "c1": [0, 1, 0], "c2": [0, 0, 1]},
    )
    assert cli.main(["solve", str(run), "--solver", "minimax-winner", "--json"]) == 0
    solved = json.loads(capsys.readouterr().out)
    mix = dict(zip(solved["players"], solved["probabilities"]))
    from metagame.solvers import minimax_winner

    with Store(run) as store:
        wins = np.zeros((3, 3))
        n = np.zeros((3, 3))
        ids = ["c0_000", "c1_001", "c2_002"]
        for m in store.matches():
            i, j = ids.index(m.players[0]), ids.index(m.players[1])
            a = 1.0 if m.returns[0] > m.returns[1] else 0.0 if m.returns[0] < m.returns[1] else 0.5
            wins[i, j] += a
            wins[j, i] += 1 - a
            n[i, j] += 1
            n[j, i] += 1
    empirical = np.where(n > 0, wins / np.maximum(n, 1), 0.5)
    expected = minimax_winner(empirical).row
    np.testing.assert_allclose([mix[i] for i in ids], expected, atol=1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["start", "nope.yaml"], "config file not found: nope.yaml"),
        (["status", "no_such_dir"], "no_such_dir is not a league run directory"),
        (["solve", "no_such_dir"], "no_such_dir is not a league run directory"),
    ],
)
def test_user_errors_exit_2_with_one_line(args, message):
    out = run_cli(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in out.stderr


def test_config_and_game_errors_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("game: {name: openspiel:kuhn_poker}\nmatchmaking: {pfsp: hardest}\n")
    out = run_cli("start", bad)
    assert out.returncode == 2 and "matchmaking.pfsp: must be one of" in out.stderr
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("game: {name: kuhn_pokr}\n")
    out = run_cli("start", unknown)
    assert out.returncode == 2 and "unknown environment 'kuhn_pokr'" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_busy_and_existing_run_directories(tmp_path):
    run = build_run(tmp_path / "run")
    out = run_cli("start", run / "config.yaml", "--run-dir", run)
    assert out.returncode == 2 and "already holds a league; use `league resume" in out.stderr
    with open(run / LOCK_FILE, "w") as f:  # a live league holds this lock
        fcntl.flock(f, fcntl.LOCK_EX)
        out = run_cli("resume", run)
        assert out.returncode == 2 and "is in use by another league" in out.stderr
        assert cli._running(str(run))
    assert not cli._running(str(run))


def test_missing_or_corrupt_checkpoint_names_player_and_file(tmp_path):
    run = build_run(tmp_path / "run")
    with Store(run) as store:
        player = store.player("paper_001")
    (run / player.checkpoint / "policy.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"player paper_001: .*players/paper_001/policy.json"):
        load_player(run, player)
    (run / player.checkpoint / "policy.json").unlink()
    with pytest.raises(CheckpointError, match=r"player paper_001: policy checkpoint not found"):
        load_player(run, player)


def test_report_writes_plots(tmp_path):
    run = build_run(tmp_path / "run")
    out = run_cli("report", run)
    assert out.returncode == 0, out.stderr
    paths = out.stdout.split()
    assert paths and all(p.endswith(".png") for p in paths)


def test_config_round_trip_is_what_resume_reads(tmp_path):
    run = build_run(tmp_path / "run")
    from metagame.league.config import load

    assert isinstance(load(run / "config.yaml"), LeagueConfig)
