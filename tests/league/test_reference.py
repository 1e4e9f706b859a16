"""The config reference is generated from the schema, complete, and committed as generated."""

from pathlib import Path

from metagame.league.config import validate
from metagame.league.reference import config_reference, sections

ROOT = Path(__file__).resolve().parents[2]


def _leaves(data, path=""):
    for key, value in data.items():
        if isinstance(value, dict) and key not in ("kwargs", "hparams", "model"):
            yield from _leaves(value, f"{path}{key}.")
        else:
            yield f"{path}{key}"


def test_every_key_of_a_config_is_in_the_reference_with_a_meaning():
    config = validate({"game": {"name": "openspiel:kuhn_poker"}}).model_dump()
    rows = {key: meaning for _, _, table in sections(type(validate({"game": {"name": "x"}})))
            for key, _, _, meaning in table}  # fmt: skip
    for key in _leaves(config):
        assert rows.get(key), f"{key} has no row or no meaning in the reference"


def test_the_committed_reference_is_current():
    committed = (ROOT / "configs" / "REFERENCE.md").read_text()
    assert committed == config_reference(), "regenerate: python -m metagame.league.reference"
