"""Imports flow one way (DESIGN.md): envs and solvers import nothing of each other or of the
layers above them; the shared array checks import nothing of metagame at all."""

import ast
from pathlib import Path

import pytest

import metagame

ROOT = Path(metagame.__file__).parent
ABOVE = ("metagame.agents", "metagame.league", "metagame.viz")
FORBIDDEN = {
    "envs": ("metagame.solvers", *ABOVE),
    "solvers": ("metagame.envs", *ABOVE),
    "_arrays.py": ("metagame.",),
}


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` statement in the file names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_upward_or_sideways(part):
    target = ROOT / part
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    assert files
    for path in files:
        bad = {m for m in imported_modules(path) if m.startswith(FORBIDDEN[part])}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
