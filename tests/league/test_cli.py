"""The `league` CLI on run directories built without Ray: status, solve, errors, checkpoints;
and fuzzing of every verb with bad arguments and bad files: each ends with exit status 2 and
one line on stderr naming the problem, never a traceback (and never starts Ray)."""

import fcntl
import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metagame.agents.arena import play
from metagame.agents.policy import MixedStrategyPolicy, save_policy
from metagame.league import cli
from metagame.league.config import LeagueConfig, save, validate
from metagame.league.evaluation import evaluate, policy_cache, rate
from metagame.league.game_spec import game_spec
from metagame.league.population import CheckpointError, load_mixture, load_player
from metagame.league.run_dir import DB_NAME, LOCK_FILE
from metagame.league.store import Store

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
            store.add_player(
                role,
                kind=role,
                population="player",
                parent=None,
                step=0,
                iteration=0,
                checkpoint=path,
                reason="x",
            )
        spec = game_spec(game, kwargs)
        store.set_meta(roles={r: spec.population_of(r) for r in spec.roles})
        policy = policy_cache(run_dir)
        evaluate(
            store,
            spec,
            policy,
            episodes_per_pair=20,
            replay_fraction=0.1,
            seed=0,
            iteration=1,
        )
        rate(store, spec, policy, iteration=1)
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
    (answer,) = solved["populations"].values()
    assert answer["roles"] == ["player_0", "player_1"]
    mix = dict(zip(answer["players"], answer["probabilities"]))
    # pure rock, paper, scissors: the Nash of the empirical (exact) meta-game is uniform
    for pid in ("rock_000", "paper_001", "scissors_002"):
        assert mix[pid] == pytest.approx(1 / 3, abs=1e-6)
    policy = load_mixture(answer["policy"])
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
    (answer,) = solved["populations"].values()
    assert answer["roles"] == ["player_0", "player_1"]
    mix = dict(zip(answer["players"], answer["probabilities"]))
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


def test_paths_that_cannot_be_written_are_refused_before_ray(tmp_path, capsys):
    import ray

    config = tmp_path / "kuhn.yaml"
    config.write_text("game: {name: openspiel:kuhn_poker}\n")
    afile = tmp_path / "afile"
    afile.write_text("x")
    for run_dir in (afile, afile / "run"):
        assert cli.main(["start", str(config), "--run-dir", str(run_dir)]) == 2
        assert "is a file, not a directory" in capsys.readouterr().err
    assert not ray.is_initialized()
    run = build_run(tmp_path / "run")
    assert cli.main(["solve", str(run), "--out", str(afile / "mix")]) == 2
    assert f"--out {afile / 'mix'}: {afile} is a file" in capsys.readouterr().err


def test_a_config_rllib_rejects_writes_nothing(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text(
        "game: {name: openspiel:kuhn_poker}\n"
        "learners: {hparams: {train_batch_size_per_learner: 64, minibatch_size: 500}}\n"
    )
    run = tmp_path / "run"
    assert cli.main(["start", str(config), "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert "config key learners: RLlib rejects it" in err and "minibatch_size" in err
    assert not run.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"game: {name: kuhn}\nevaluation:\n  episodes_per_pair: many\n", "line 3: config key"),
        (b"game: {name: kuhn}\nbudget: {iterations: .nan}\n", "line 2: config key budget"),
        (b"game:\n  name: x\n budget: [\n", "line 3: not valid YAML"),
        (b"game: {name: kuhn}\n\xff\xfe\x00", "line 2: not UTF-8 text"),
        (b"game: {name: kuhn}\nseed: 1\x00\n", "line 2: not text"),
        (
            b"game: {name: openspiel:kuhn_poker}\nlearners:\n  hparams:\n    lr: fast\n",
            "line 4: config key learners.hparams.lr: must be a number, got 'fast'",
        ),
    ],
)
def test_config_files_that_are_not_text_or_not_numbers_name_file_and_line(
    tmp_path, capsys, text, message
):
    config = tmp_path / "c.yaml"
    config.write_bytes(text)
    assert cli.main(["start", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"config file {config}, {message}" in err and len(err.splitlines()) == 1


def test_damaged_or_foreign_stores_exit_2_under_every_reader(tmp_path, capsys):
    good = build_run(tmp_path / "good")
    data = (good / "league.sqlite").read_bytes()
    damaged = {
        "empty": b"",
        "truncated": data[: len(data) // 2],
        "garbage": bytes(range(256)) * 8,
        "corrupt": data[:8192] + b"\x13" * 512 + data[8192 + 512 :],
    }
    for name, content in damaged.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "league.sqlite").write_bytes(content)
    (tmp_path / "foreign").mkdir()
    with sqlite3.connect(tmp_path / "foreign" / "league.sqlite") as db:
        db.execute("CREATE TABLE songs (title TEXT)")
    for name in [*damaged, "foreign"]:
        for verb in (["status"], ["status", "--json"], ["solve"], ["report"], ["watch"]):
            assert cli.main([verb[0], str(tmp_path / name), *verb[1:]]) == 2, (name, verb)
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and "league.sqlite" in err[0], (name, verb, err)
            assert "not a league store" in err[0] or "is damaged" in err[0]


def test_watch_lists_the_matches_with_replays_and_stays_in_the_run_directory(tmp_path, capsys):
    run = build_run(tmp_path / "run")
    with Store(run) as store:
        recorded = store.replay_matches()
        bare = next(m.id for m in store.matches() if not m.replay)
        replays = {store.match(i).replay for i in recorded}
    assert recorded and replays == {f"replays/match_{i:06d}.replay.json.gz" for i in recorded}
    assert all((run / r).is_file() for r in replays)
    assert cli.main(["watch", str(run), "--list"]) == 0
    assert capsys.readouterr().out.strip().endswith(", ".join(map(str, recorded)))
    assert cli.main(["watch", str(run), "--match", str(bare)]) == 2
    err = capsys.readouterr().err
    assert f"match {bare} has no recorded replay (matches with replays: {recorded[0]}" in err
    assert cli.main(["status", str(run)]) == 0
    assert f"matches with replays (league watch --match ID): {recorded[0]}" in (
        capsys.readouterr().out
    )
    outside = tmp_path / "outside.replay.json.gz"
    outside.write_bytes((run / replays.pop()).read_bytes())
    with Store(run) as store, store.transaction() as db:
        db.execute("UPDATE matches SET replay = '../outside.replay.json.gz' WHERE id = ?", (bare,))
    assert cli.main(["watch", str(run), "--match", str(bare)]) == 2
    assert "lies outside the run directory" in capsys.readouterr().err


def test_status_json_into_a_closed_pipe_is_quiet(tmp_path):
    run = build_run(tmp_path / "run")
    process = subprocess.Popen(
        [sys.executable, "-m", "metagame.league.cli", "status", str(run), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # the reader is gone before the league writes (`| head` exited)
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141 and err == ""


def test_resume_of_a_spent_budget_says_how_to_go_on(tmp_path, capsys):
    run = build_run(tmp_path / "run")
    with Store(run) as store:
        store.set_meta(
            status="out of time",
            stop_reason="stopped by its wall-time budget (200 s) after iteration 1 of 20",
            checkpoint={"iteration": 1, "steps": 10, "wall": 201.0},
            wall=201.0,
        )
    cfg = validate({"game": {"name": "matrix", "kwargs": {"game": "rps"}}})
    save(cfg.with_overrides(**{"budget.wall_time_s": 200.0}), run / "config.yaml")
    with Store(run) as store:
        store.set_meta(config=cfg.with_overrides(**{"budget.wall_time_s": 200.0}).model_dump())
    assert cli.main(["resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "stopped by its wall-time budget (200 s) after iteration 1 of 20" in err
    assert f"to go on: league resume {run} --wall-time 401" in err
    assert cli.main(["status", str(run)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "out of time (stopped by its wall-time budget (200 s)" in out
    assert f"to continue: league resume {run} --wall-time 401" in out


def test_busy_and_existing_run_directories(tmp_path, capsys):
    def running() -> bool:
        assert cli.main(["status", str(run), "--json"]) == 0
        return json.loads(capsys.readouterr().out)["running"]

    run = build_run(tmp_path / "run")
    out = run_cli("start", run / "config.yaml", "--run-dir", run)
    assert out.returncode == 2 and "already holds a league; use `league resume" in out.stderr
    with open(run / LOCK_FILE, "w") as f:  # a live league holds this lock
        fcntl.flock(f, fcntl.LOCK_EX)
        out = run_cli("resume", run)
        assert out.returncode == 2 and "is in use by another league" in out.stderr
        assert running()
    assert not running()


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


# -- fuzzing ------------------------------------------------------------------------------------

VERBS = {  # each verb with options that keep a readable store from starting anything
    "status": [],
    "solve": [],
    "report": [],
    "watch": ["--match", "999999"],
    "resume": [],
    "stop": [],
}
OPTIONS = [
    "--json",
    "--seed",
    "--match",
    "--live",
    "--list",
    "--out",
    "--solver",
    "--iterations",
    "--wall-time",
    "--address",
    "--run-dir",
    "--quiet",
    "--wait",
    "--bogus",
]
BAD_VALUES = ["abc", "-1", "0", "nan", "-5.5", "1e400", "", "x y", "--"]


def run(argv, capsys):
    """The exit status and stderr lines of ``league ARGV`` in this process."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    return code, capsys.readouterr().err.strip().splitlines()


def assert_one_line(code, err, argv):
    assert code == 2, (argv, err)
    assert len(err) == 1 and err[0].startswith("league"), (argv, err)
    assert "Traceback" not in err[0]


@pytest.fixture(scope="module")
def good_store(tmp_path_factory):
    """A finished league's store bytes: its budget is spent, so `resume` refuses before Ray."""
    run_dir = build_run(tmp_path_factory.mktemp("good") / "run")
    with Store(run_dir) as store:
        store.set_meta(checkpoint={"iteration": 20, "steps": 0, "wall": 1.0, "learners": []})
    with sqlite3.connect(run_dir / DB_NAME) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return run_dir, (run_dir / DB_NAME).read_bytes()


fuzz = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@fuzz
@given(
    verb=st.sampled_from(sorted(VERBS) + ["start"]),
    tokens=st.lists(
        st.sampled_from(OPTIONS + BAD_VALUES)
        | st.text(max_size=8).filter(lambda t: not t.startswith("-")),
        max_size=5,
    ),
    target=st.sampled_from(["missing", "file", "under_file", "empty_dir"]),
)
def test_bad_arguments_exit_2_with_one_line(tmp_path_factory, capsys, verb, tokens, target):
    root = tmp_path_factory.mktemp("args")
    (root / "file").write_text("not a league\n")
    (root / "empty_dir").mkdir()
    path = {
        "missing": root / "missing",
        "file": root / "file",
        "under_file": root / "file" / "x",
        "empty_dir": root / "empty_dir",
    }[target]
    argv = [verb, path, *tokens]
    code, err = run(argv, capsys)
    assert_one_line(code, err, argv)


@fuzz
@given(
    verb=st.sampled_from(sorted(VERBS)),
    damage=st.sampled_from(["random", "truncated", "overwritten", "foreign"]),
    data=st.data(),
)
def test_damaged_stores_exit_2_or_work(tmp_path_factory, capsys, good_store, verb, damage, data):
    """Random bytes, a truncated or foreign store exit 2; bytes overwritten at random may leave
    a store SQLite still reads whole (then the verb does its job), else they exit 2 too."""
    _, content = good_store
    if damage == "random":
        content = data.draw(st.binary(max_size=4096))
    elif damage == "truncated":
        content = content[: data.draw(st.integers(0, len(content) - 4096))]
    elif damage == "overwritten":
        at = data.draw(st.integers(0, len(content) - 1))
        noise = data.draw(st.binary(min_size=1, max_size=512))
        content = content[:at] + noise + content[at + len(noise) :]
    run_dir = tmp_path_factory.mktemp("store")
    if damage == "foreign":
        with sqlite3.connect(run_dir / DB_NAME) as db:
            db.execute(f"CREATE TABLE {data.draw(st.sampled_from(['meta', 'players', 'x']))} (a)")
    else:
        (run_dir / DB_NAME).write_bytes(content)
    argv = [verb, run_dir, *VERBS[verb]]
    code, err = run(argv, capsys)
    if damage == "overwritten" and code != 2:
        return  # still a readable store (e.g. noise over free space): the verb did its job
    assert_one_line(code, err, argv)
    assert str(run_dir / DB_NAME) in err[0] or verb == "resume"


@fuzz
@given(
    content=st.text(max_size=60).map(str.encode)
    | st.binary(max_size=60)
    | st.dictionaries(
        st.sampled_from(["game", "budget", "seed", "mode", "evaluation", "learners", "name"]),
        st.none() | st.integers() | st.floats() | st.text(max_size=5) | st.lists(st.integers()),
        max_size=4,
    ).map(lambda d: str(d).encode())
)
def test_bad_config_files_exit_2_with_one_line(tmp_path_factory, capsys, content):
    config = tmp_path_factory.mktemp("config") / "c.yaml"
    config.write_bytes(content)
    argv = ["start", config, "--run-dir", config.parent / "run"]
    code, err = run(argv, capsys)
    assert_one_line(code, err, argv)
    assert str(config) in err[0]
    assert not (config.parent / "run").exists()


def test_a_terminal_sees_a_progress_bar_over_the_budget_and_a_log_one_line_per_iteration():
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from metagame.league.cli import Display
    from metagame.league.config import BudgetConfig
    from metagame.league.runner import IterationInfo

    info = IterationInfo(
        iteration=3,
        steps=6000,
        steps_per_s=900.0,
        wall=30.0,
        meta={"a": 0.75, "b": 0.25},
        nash_conv=0.0,
        exploitability=0.25,
        standings=SimpleNamespace(ids=["a", "b"], mu=[26.0, 24.0], sigma=[2.0, 2.5]),
    )
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=140)
    display = Display(False, BudgetConfig(iterations=12, wall_time_s=100), console=terminal)
    display(info)
    display.close()
    text = out.getvalue()
    assert "3/12" in text and "wall budget left 70 s" in text
    assert "exploitability of the mixture 0.2500" in text
    log = io.StringIO()
    display = Display(
        False,
        BudgetConfig(iterations=12),
        console=Console(file=log, width=400),
        answer="restricted-game equilibrium",
    )
    display(info)
    display.close()
    lines = log.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("it   3")
    assert "exploitability of the restricted-game equilibrium 0.2500" in lines[0]
