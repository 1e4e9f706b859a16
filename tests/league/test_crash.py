"""A SIGKILL at any phase of a league, then `league resume`: the league ends row for row (players,
matches, training-game counts, ratings, meta-strategies, iterations) and weight for weight as a
run of the same seed that was never killed; and `league stop` checkpoints the iteration it ends.

Each kill is real: ``METAGAME_LEAGUE_PAUSE_AT`` makes the `league` process stop itself (SIGSTOP)
at a named phase, and the test kills its whole process group (the league and the Ray it started)
with SIGKILL, exactly as a crash at that moment would.
"""

import os
import signal
import sqlite3
import subprocess
import sys

import pytest
import torch
import yaml

from metagame.league.phases import PAUSE_ENV
from metagame.league.run_dir import DB_NAME
from metagame.league.store import Store

pytestmark = pytest.mark.slow

CONFIG = {
    "name": "crash",
    "game": {"name": "openspiel:kuhn_poker"},
    "learners": {
        "hparams": {
            "train_batch_size_per_learner": 64,
            "minibatch_size": 32,
            "num_epochs": 1,
            "rollout_fragment_length": 8,
        },
        "model": {"fcnet_hiddens": [16]},
    },
    "mode": {"name": "selfplay", "snapshot_every": 1},
    "matchmaking": {"slots": 2},
    "evaluation": {"episodes_per_pair": 4, "replay_fraction": 0.3},
    "budget": {"iterations": 3},
    "seed": 3,
    "ray": {"num_env_runners": 0},
}

# (phase, iteration) of each kill, in the order one run goes through them: before the first
# checkpoint, then inside iterations 1-3 (RLlib's train(), new players on disk, evaluation
# matches half committed, ratings written, the RLlib checkpoint on disk but not committed)
KILLS = [
    ("setup", 0),
    ("training", 1),
    ("snapshot", 2),
    ("evaluation", 2),
    ("rating", 2),
    ("checkpoint", 3),
]

QUERIES = {
    "players": "SELECT id, seq, kind, population, parent, step, iteration, checkpoint, reason, "
    "retired FROM players ORDER BY seq",
    "matches": "SELECT id, key, iteration, players, seats, outcome, returns, length, seed, "
    "replay FROM matches ORDER BY id",
    "games": "SELECT * FROM games ORDER BY iteration, learner, opponent",
    "ratings": "SELECT * FROM ratings ORDER BY iteration, player",
    "meta_strategies": "SELECT iteration, solver, players, probs, joint, nash_conv, "
    "exploitability FROM meta_strategies ORDER BY iteration",
    "iterations": "SELECT iteration, steps, league_size FROM iterations ORDER BY iteration",
}


def league(*args, pause=None):
    env = {k: v for k, v in os.environ.items() if k != PAUSE_ENV}
    if pause is not None:
        env[PAUSE_ENV] = f"{pause[0]}:{pause[1]}"
    return subprocess.Popen(
        [sys.executable, "-m", "metagame.league.cli", *map(str, args), "--quiet"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def kill_when_paused(process, phase, iteration):
    """Reads the league's stderr until it says it paused, then SIGKILLs its process group."""
    expected = f"league: paused at {phase} of iteration {iteration}"
    lines = []
    try:
        for line in process.stderr:
            lines.append(line)
            if line.strip() == expected:
                break
        else:
            pytest.fail(f"never paused at {phase}:{iteration}:\n{''.join(lines[-40:])}")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL


def finish(process):
    _, err = process.communicate(timeout=900)
    assert process.returncode == 0, err[-3000:]


def rows(run):
    with sqlite3.connect(run / DB_NAME) as db:
        tables = {name: db.execute(sql).fetchall() for name, sql in QUERIES.items()}
        tables["sequence"] = db.execute("SELECT seq FROM sqlite_sequence").fetchall()
    return tables


def weights(run, players):
    return {row[0]: torch.load(run / row[7] / "weights.pt", weights_only=True) for row in players}


def files(run, folder):
    return sorted(p.name for p in (run / folder).iterdir())


def test_a_kill_at_every_phase_resumes_to_the_run_never_killed(tmp_path):
    config = tmp_path / "crash.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    finish(league("start", config, "--run-dir", reference))

    kill_when_paused(league("start", config, "--run-dir", killed, pause=KILLS[0]), *KILLS[0])
    with Store(killed, readonly=True) as store:  # killed before its first checkpoint
        assert store.get_meta("checkpoint") is None and store.players()
    for phase, iteration in KILLS[1:]:
        kill_when_paused(league("resume", killed, pause=(phase, iteration)), phase, iteration)
        with Store(killed, readonly=True) as store:
            committed = store.get_meta("checkpoint")["iteration"]
            written = max(p.iteration for p in store.players())
        # the kill left work of an uncommitted iteration behind (the snapshot kill: new players)
        assert committed == iteration - 1
        if phase != "training":
            assert written == iteration
    finish(league("resume", killed))

    expected, got = rows(reference), rows(killed)
    assert len(expected["players"]) == 4 and len(expected["matches"]) == 6 * 4
    for table in QUERIES:
        assert got[table] == expected[table], table
    assert got["sequence"] == expected["sequence"]
    assert sum(w + d + lo for *_, w, d, lo in got["games"]) > 0
    # the players are the same networks, and no orphan file of a discarded iteration is left
    mine, theirs = weights(killed, got["players"]), weights(reference, expected["players"])
    for pid, state in theirs.items():
        assert state.keys() == mine[pid].keys()
        for key, value in state.items():
            assert torch.equal(value, mine[pid][key]), (pid, key)
    for folder in ("players", "replays", "checkpoints"):
        assert files(killed, folder) == files(reference, folder), folder
    with open(killed / "progress.csv") as f:
        assert [line.split(",")[0] for line in f][1:] == ["1", "2", "3"]


def test_a_killed_xdo_league_resumes_to_the_run_never_killed(tmp_path):
    """XDO's table module is filled from the players at each iteration, so a run killed after
    a response was added (before that iteration's commit) resumes to the same league."""
    data = {**CONFIG, "mode": {"name": "xdo", "iterations_per_response": 1}}
    config = tmp_path / "xdo.yaml"
    config.write_text(yaml.safe_dump(data))
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    finish(league("start", config, "--run-dir", reference))
    kill_when_paused(league("start", config, "--run-dir", killed, pause=("rating", 2)), "rating", 2)
    finish(league("resume", killed))
    expected, got = rows(reference), rows(killed)
    assert {row[2] for row in expected["games"]} == {"restricted_nash"}
    for table in QUERIES:
        assert got[table] == expected[table], table
    mine, theirs = weights(killed, got["players"]), weights(reference, expected["players"])
    for pid, state in theirs.items():
        for key, value in state.items():
            assert torch.equal(value, mine[pid][key]), (pid, key)


def test_stop_checkpoints_the_iteration_it_ends(tmp_path):
    config = tmp_path / "crash.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "budget": {"iterations": 1000}}))
    run = tmp_path / "run"
    process = league("start", config, "--run-dir", run, pause=("training", 2))
    try:
        for line in process.stderr:
            if "paused at training of iteration 2" in line:
                break
        stop = subprocess.run(
            [sys.executable, "-m", "metagame.league.cli", "stop", run],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert stop.returncode == 0 and "asked the league" in stop.stdout
        os.killpg(process.pid, signal.SIGCONT)
        finish(process)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    with Store(run, readonly=True) as store:
        assert store.get_meta("status") == "stopped"
        assert store.get_meta("checkpoint")["iteration"] == store.get_meta("iteration") == 2
        assert [i["iteration"] for i in store.iterations()] == [1, 2]


# the LLM duel's league (metagame.league.sequence): no Ray, players saved with save_pretrained
DUEL_KILLS = [("setup", 0), ("snapshot", 1), ("evaluation", 2), ("checkpoint", 3)]


def test_a_killed_duel_league_resumes_to_the_run_never_killed(tmp_path):
    from metagame.envs.preference.prompts import load_prompts
    from metagame.envs.preference.tiny_lm import save_tiny_gpt2
    from metagame.league.population import load_player

    texts = [t for p in load_prompts() for t in (p.text, p.reference)]
    model = save_tiny_gpt2(tmp_path / "tiny_gpt2", texts, seed=0)
    config = tmp_path / "duel.yaml"
    duel = {
        "name": "duel",
        "game": {
            "name": "llm_duel",
            "kwargs": {"model": str(model), "max_tokens": 6},
            "eval_kwargs": {"prompts": "bundled:prompts_heldout"},
        },
        "learners": {
            "algo": "INPO",
            "hparams": {"group": 2, "prompts_per_step": 4, "updates_per_iteration": 2},
        },
        "mode": {"name": "selfplay", "snapshot_every": 1},
        "evaluation": {"episodes_per_pair": 6},
        "budget": {"iterations": 3},
        "seed": 5,
    }
    config.write_text(yaml.safe_dump(duel))
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    finish(league("start", config, "--run-dir", reference))
    kill_when_paused(league("start", config, "--run-dir", killed, pause=DUEL_KILLS[0]), "setup", 0)
    for phase, iteration in DUEL_KILLS[1:]:
        kill_when_paused(league("resume", killed, pause=(phase, iteration)), phase, iteration)
        with Store(killed, readonly=True) as store:
            assert store.get_meta("checkpoint")["iteration"] == iteration - 1
    finish(league("resume", killed))

    expected, got = rows(reference), rows(killed)
    assert len(expected["players"]) == 4 and len(expected["matches"]) == 4 * 3 * 3
    for table in (*QUERIES, "sequence"):
        assert got[table] == expected[table], table
    with Store(reference, readonly=True) as store:
        players = store.players()
    for player in players:
        mine, theirs = (load_player(run, player).model.state_dict() for run in (killed, reference))
        for key, value in theirs.items():
            assert torch.equal(value, mine[key]), (player.id, key)
    for folder in ("players", "checkpoints"):
        assert files(killed, folder) == files(reference, folder), folder
