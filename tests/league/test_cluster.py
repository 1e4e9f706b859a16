"""A two-node Ray cluster on loopback (a head and a worker node started with `ray start`):
the league joins it by address and its EnvRunners run on both nodes."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).parent / "ray")
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_DEDUP_LOGS": "0"}

SCRIPT = """
import json, sys
import ray
from metagame.league.config import validate
from metagame.league.runner import League

cfg = validate({
    "game": {"name": "openspiel:kuhn_poker"},
    "learners": {"hparams": {"train_batch_size_per_learner": 64, "minibatch_size": 32,
                             "num_epochs": 1, "rollout_fragment_length": 16},
                 "model": {"fcnet_hiddens": [16]}},
    "evaluation": {"episodes_per_pair": 2, "replay_fraction": 0.0},
    "ray": {"address": sys.argv[1], "num_env_runners": 2},
})
league = League(cfg, sys.argv[2])
league.setup()
nodes = league.algo.env_runner_group.foreach_env_runner(
    lambda runner: ray.get_runtime_context().get_node_id(), local_env_runner=False)
info = league.step()
league.algo.stop()
league.store.close()
print(json.dumps({"runner_nodes": nodes, "cluster_nodes": [n["NodeID"] for n in ray.nodes()
                  if n["Alive"]], "steps": info.steps}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_nodes(address: str, count: int, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = subprocess.run(
            [RAY, "status", f"--address={address}"], env=ENV, capture_output=True, text=True
        )
        if out.returncode == 0 and out.stdout.count("node_") >= count:
            return
        time.sleep(2)
    raise TimeoutError(f"the Ray cluster at {address} did not reach {count} nodes")


def test_env_runners_spread_over_a_two_node_cluster(tmp_path):
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--block", "--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]
    nodes = [
        subprocess.Popen(
            [RAY, "start", "--head", f"--port={port}", "--include-dashboard=false", *common],
            env=ENV,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        _wait_for_nodes(address, 1)
        nodes.append(
            subprocess.Popen(
                [RAY, "start", f"--address={address}", *common],
                env=ENV,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        _wait_for_nodes(address, 2)
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT, address, str(tmp_path / "run")],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        data = json.loads(out.stdout.strip().splitlines()[-1])
        assert len(set(data["cluster_nodes"])) == 2
        assert set(data["runner_nodes"]) == set(data["cluster_nodes"])
        assert data["steps"] > 0
    finally:
        for process in reversed(nodes):  # only the process groups this test started
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=30)
        # `ray start` recorded this cluster as the machine's current one; it is gone now
        current = Path("/tmp/ray/ray_current_cluster")
        if current.exists() and current.read_text().strip().endswith(f":{port}"):
            current.unlink()
