"""The same config and seed give the same league, bit for bit (``league start`` as a user runs it).

Each run is a separate process with Python's string hashing left random: the CLI pins the hash
seed itself, because RLlib iterates sets of module ids while it builds and trains modules. Both
local sampling and two remote EnvRunners (each seeded from the league's seed and its index).
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

CONFIG = """
name: tiny
game: {name: openspiel:kuhn_poker}
mode: selfplay
learners:
  algo: PPO
  hparams: {lr: 0.001, train_batch_size_per_learner: 64, minibatch_size: 32, num_epochs: 1,
            rollout_fragment_length: 8}
  model: {fcnet_hiddens: [16]}
matchmaking: {slots: 2}
evaluation: {episodes_per_pair: 4, replay_fraction: 0.0}
budget: {iterations: 2}
seed: 5
ray: {num_env_runners: %d, num_envs_per_env_runner: %d}
"""


def _league(*args):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    command = [sys.executable, "-c", "from metagame.league.cli import main; main()", *args]
    # main() with no argv is the console script's path (it reads sys.argv[1:])
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("runners, envs", [(0, 1), (2, 4)], ids=["local", "remote"])
def test_two_runs_with_one_seed_are_identical(tmp_path, runners, envs):
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG % (runners, envs))
    runs = []
    for k in range(2):
        run_dir = tmp_path / f"run{k}"
        started = _league("start", str(config), "--run-dir", str(run_dir), "--quiet")
        assert started.returncode == 0, started.stderr[-2000:]
        status = _league("status", str(run_dir), "--json")
        assert status.returncode == 0, status.stderr[-2000:]
        runs.append(json.loads(status.stdout))
    first, second = runs
    assert first["iteration"] == second["iteration"] == 2
    assert first["exploitability"] == second["exploitability"]
    assert first["standings"] == second["standings"]
