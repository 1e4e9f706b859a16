"""The set-up is reproducible: the venv holds exactly the versions of constraints.txt (the lock),
setup.py's ranges admit them, and the lock still resolves against the registry."""

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "constraints.txt"


def locked() -> dict[str, Version]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = Version(version)
    return pins


INSTALLED = """
import json, sysconfig
from importlib import metadata
paths = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
print(json.dumps({d.metadata["Name"]: d.version for d in metadata.distributions(path=list(paths))}))
"""


def installed() -> dict[str, Version]:
    """What the venv's site-packages hold, read in a fresh interpreter: in a full run this
    process's path gained the base interpreter's site-packages from some earlier test, and a
    package found there (colorama) is not the venv's."""
    out = subprocess.run([sys.executable, "-c", INSTALLED], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return {
        canonicalize_name(name): Version(Version(version).public)
        for name, version in json.loads(out.stdout).items()
        if canonicalize_name(name) != "metagame"
    }


def test_the_venv_is_the_lock():
    pins, have = locked(), installed()
    assert {k: str(v) for k, v in have.items() if pins.get(k) != v} == {}
    assert sorted(set(pins) - set(have)) == []


def test_setup_ranges_admit_the_lock():
    pins = locked()
    for text in metadata.requires("metagame"):
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is required but not locked"
        assert req.specifier.contains(pins[name], prereleases=True), (str(req), pins[name])


@pytest.mark.timeout(300)
def test_the_lock_still_resolves():
    """What `make lock-check` runs: pip's resolver against the registry, installing nothing."""
    extras = "test,judge,sumo,lm"
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed"]
    cmd += ["-c", str(LOCK), "torch==2.13.0", f"{ROOT}[{extras}]"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
