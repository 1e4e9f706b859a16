"""SIGKILL in the middle of a league run, then `league resume` and `league stop`: no match row
lost or duplicated, players and ratings consistent, training continues from the last
checkpoint, and the graceful stop checkpoints the iteration it finishes."""

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from metagame.league.evaluation import policy_cache
from metagame.league.store import Store

pytestmark = pytest.mark.slow

EPISODES = 4
CONFIG = {
    "name": "crash",
    "game": {"name": "openspiel:kuhn_poker"},
    "learners": {
        "hparams": {
            "train_batch_size_per_learner": 64,
            "minibatch_size": 32,
            "num_epochs": 1,
            "rollout_fragment_length": 16,
        },
        "model": {"fcnet_hiddens": [16]},
    },
    "selfplay": {"snapshot_every": 1},
    "evaluation": {"episodes_per_pair": EPISODES, "replay_fraction": 0.0},
    "budget": {"iterations": 1000},
    "ray": {"num_env_runners": 0},
}


def league(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "metagame.league.cli", *map(str, args), "--quiet"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def snapshot(run):
    with Store(run, readonly=True) as store, store.transaction():
        return {
            "matches": {m.key: (m.id, m.returns) for m in store.matches()},
            "players": [p.id for p in store.players()],
            "checkpoint": store.get_meta("checkpoint"),
            "iteration": store.get_meta("iteration", 0),
        }


def test_sigkill_then_resume(tmp_path):
    config = tmp_path / "crash.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    run = tmp_path / "run"
    process = league("start", config, "--run-dir", run)
    deadline = time.time() + 600
    try:
        while time.time() < deadline:  # kill once two iterations are checkpointed
            time.sleep(1.0)
            if (run / "league.sqlite").exists():
                state = snapshot(run)
                if state["checkpoint"] and state["checkpoint"]["iteration"] >= 2:
                    break
            assert process.poll() is None, process.stderr.read()[-3000:]
        else:
            pytest.fail("the league did not reach two checkpointed iterations")
        time.sleep(0.5)  # somewhere inside the next iteration
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the league and the Ray it started
        process.wait(timeout=60)
    before = snapshot(run)
    ckpt = before["checkpoint"]
    target = ckpt["iteration"] + 2

    resumed = league("resume", run, "--iterations", 1000)
    try:  # once it passes the checkpoint by two iterations, ask it to stop gracefully
        while snapshot(run)["iteration"] < target:
            assert resumed.poll() is None, resumed.stderr.read()[-3000:]
            time.sleep(0.5)
        stop = subprocess.run(
            [sys.executable, "-m", "metagame.league.cli", "stop", run],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert stop.returncode == 0 and "asked the league" in stop.stdout
        _, err = resumed.communicate(timeout=600)
    finally:
        if resumed.poll() is None:
            os.killpg(resumed.pid, signal.SIGKILL)
    assert resumed.returncode == 0, err[-3000:]

    with Store(run, readonly=True) as store:
        matches = store.matches()
        players = store.players()
        iterations = store.iterations()
        ratings = store.ratings()
        status = store.get_meta("status")
    # no row lost: every match committed before the kill is still there, unchanged
    after = {m.key: (m.id, m.returns) for m in matches}
    assert all(after[k] == v for k, v in before["matches"].items())
    # no row duplicated: every pair of players has exactly EPISODES evaluation matches
    pairs: dict[tuple[str, str], int] = {}
    for m in matches:
        key = tuple(sorted(m.players))
        pairs[key] = pairs.get(key, 0) + 1
    ids = [p.id for p in players]
    assert len(ids) == len(set(ids)) and ids[: len(before["players"])] == before["players"]
    assert len(pairs) == len(ids) * (len(ids) - 1) // 2 and set(pairs.values()) == {EPISODES}
    # ratings of the last iteration cover exactly the players, whose checkpoints all load
    assert {r["player"] for r in ratings} == set(ids)
    load = policy_cache(run)
    for p in players:
        load(p)
    # stopped gracefully after the current iteration, with a checkpoint of it
    last = max(i["iteration"] for i in iterations)
    assert status == "stopped" and last >= target
    assert snapshot(run)["checkpoint"]["iteration"] == last
    # training continued from the checkpoint: iterations resume after it, steps grow from it
    rows = {i["iteration"]: i for i in iterations}
    assert rows[ckpt["iteration"] + 1]["steps"] > ckpt["steps"]
    assert rows[target]["steps"] > rows[ckpt["iteration"] + 1]["steps"]
