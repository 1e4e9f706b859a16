"""Lazy exports: every exported name resolves to the object its module defines, importing a
package imports none of its heavy modules, unknown names raise AttributeError."""

import importlib
import subprocess
import sys

import pytest

PACKAGES = ["metagame.agents", "metagame.agents.rllib", "metagame.envs.markov", "metagame.solvers"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_export_is_its_modules_object(package):
    pkg = importlib.import_module(package)
    for name in pkg._EXPORTS:
        target = pkg._EXPORTS[name]
        module_name, sep, attr = target.partition(":")
        module = importlib.import_module(module_name, package)
        expected = module if sep and not attr else getattr(module, attr or name)
        assert getattr(pkg, name) is expected
        assert name in dir(pkg) and name in pkg.__all__
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        pkg.nope  # noqa: B018


def test_importing_the_agents_loads_neither_ray_nor_torch():
    code = "import sys, metagame.agents; print('ray' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"], out.stderr
