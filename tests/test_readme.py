"""The README's tour runs as written: every ``python`` block, in order, in a fresh process in one
working directory (files one block writes, the next may read), headless. A block that reads the
quickstart league's run directory runs after the README's own ``league start`` and
``league solve`` lines (what ``make demo`` runs), which must finish the quickstart's iteration
budget with a falling exploitability."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = [
    (README[: m.start()].count("\n") + 1, m.group(1))
    for m in re.finditer(r"```python\n(.*?)```", README, re.S)
]


SHELL = [
    line.split("#")[0].split()
    for block in re.findall(r"```bash\n(.*?)```", README, re.S)
    for line in block.splitlines()
    if line.startswith(("league start", "league solve")) and "[" not in line.split("#")[0]
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("readme")
    (path / "configs").symlink_to(ROOT / "configs")
    return path


def league(workdir: Path) -> None:
    """The README's ``league start`` and ``league solve`` lines, once per module."""
    if (workdir / "runs" / "quickstart" / "solve").exists():
        return
    script = Path(sys.executable).parent / "league"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv in SHELL:
        out = subprocess.run([str(script), *argv[1:]], cwd=workdir, env=env, capture_output=True,
                             text=True, timeout=900)  # fmt: skip
        assert out.returncode == 0, f"{' '.join(argv)}:\n{out.stderr[-3000:]}"
    # the demo keeps its promise: the whole iteration budget, and a falling exploitability
    status = subprocess.run([str(script), "status", "runs/quickstart", "--json"], cwd=workdir,
                            env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    data = json.loads(status.stdout)
    budget = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())["budget"]
    assert data["iteration"] == budget["iterations"], data["stop_reason"]
    curve = [row["exploitability"] for row in data["exploitability"]]
    assert curve[-1] < curve[0], curve


def run(code: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"README.md:{n}" for n, _ in BLOCKS])
def test_readme_block_runs_as_written(line, code, workdir):
    if "runs/quickstart" in code:
        league(workdir)
    out = run(code, workdir)
    assert out.returncode == 0, f"README.md:{line} failed:\n{out.stderr[-4000:]}"
