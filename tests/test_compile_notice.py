"""A first compilation of a metagame kernel says so in one line; a cached one says nothing."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from numba import njit

    from metagame._compile_notice import announce_compilation

    announce_compilation(delay=0.0)
    announce_compilation(delay=0.0)  # a second install changes nothing: one line, not two

    @njit
    def not_ours(x):
        return x + 1

    not_ours(1)
    from metagame.solvers.evolutionary import project_simplex

    print(project_simplex(np.array([0.2, 0.9]), 0.0).round(3).tolist())
    """
)


def _run(cache_dir, **env):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), **env}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[0.15, 0.85]"
    return [line for line in out.stderr.splitlines() if line.startswith("metagame:")]


def test_one_line_while_compiling_none_from_the_cache(tmp_path):
    first = _run(tmp_path)
    assert first == [
        "metagame: compiling metagame.solvers.evolutionary.project_simplex with Numba "
        "(first run only, cached after)"
    ]
    assert _run(tmp_path) == []  # loaded from the cache: no compile event
    assert _run(tmp_path / "fresh", METAGAME_QUIET_COMPILE="1") == []
