"""Progress bars: drawn on a terminal, silent elsewhere."""

import io
import subprocess
import sys

from rich.console import Console

from metagame.progress import progress


def test_a_terminal_sees_the_bar_with_counts():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with progress("minimax-Q", total=10, console=console) as advance:
        for _ in range(10):
            advance()
    text = out.getvalue()
    assert "minimax-Q" in text and "10/10" in text and "eta" in text


def test_nothing_is_printed_when_stderr_is_not_a_terminal():
    code = (
        "from metagame.agents import minimax_q\n"
        "from metagame.envs import make\n"
        "r = minimax_q(make('soccer'), steps=60_000, seed=0)\n"
        "print(r.steps, r.episodes > 0)"
    )
    env = {"METAGAME_QUIET_COMPILE": "1", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["60000", "True"] and out.stderr == ""
