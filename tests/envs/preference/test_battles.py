import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metagame.envs.preference import (
    bradley_terry,
    from_battles,
    sample_battles,
    skew_symmetric_noise,
    write_battles,
)


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_recovers_sampled_P_within_bounds(tmp_path, suffix):
    P = skew_symmetric_noise(bradley_terry([0.0, 0.5, 1.0, 1.5, -0.5]), 0.15, seed=3)
    names = ["a", "b", "c", "d", "e"]
    records = sample_battles(P, 400, seed=7, models=names, tie_rate=0.1)
    path = write_battles(records, tmp_path / f"log.{suffix}")
    b = from_battles(path, confidence=0.999)
    assert b.models == names
    off = ~np.eye(5, dtype=bool)
    np.testing.assert_array_equal(b.counts[off], 400)
    assert b.contains(P)[off].all()
    assert np.abs(b.P - P).max() < 0.1
    np.testing.assert_allclose(b.P + b.P.T, 1.0)
    assert (b.upper - b.lower)[off].max() < 0.2
    # ties count half: wins + losses add up to the battles
    np.testing.assert_allclose(b.wins + b.wins.T, b.counts)


def test_coverage_of_95_percent_bounds(tmp_path):
    P = bradley_terry(np.linspace(-1, 1, 8))
    path = write_battles(sample_battles(P, 100, seed=0), tmp_path / "log.jsonl")
    b = from_battles(path)
    off = ~np.eye(8, dtype=bool)
    assert b.contains(P)[off].mean() > 0.85


def test_ties_and_unmet_pairs(tmp_path):
    path = tmp_path / "log.jsonl"
    rows = [
        {"model_a": "x", "model_b": "y", "winner": "tie"},
        {"model_a": "y", "model_b": "x", "winner": "model_a"},
        {"model_a": "y", "model_b": "z", "winner": "tie (bothbad)"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    b = from_battles(path)
    assert b.models == ["x", "y", "z"]
    assert b.P[0, 1] == pytest.approx(0.25)
    assert b.P[0, 2] == 0.5 and (b.lower[0, 2], b.upper[0, 2]) == (0.0, 1.0)


@pytest.mark.parametrize(
    "content, message",
    [
        (
            '{"model_a": "x", "model_b": "y", "winner": "model_a"}\n{"model_a": "x", "winner": '
            '"tie"}\n',
            "line 2: missing field model_b",
        ),
        ('{"model_a": "x", "model_b": "y", "winner": "a"}\n', "line 1: unknown winner 'a'"),
        ('{"model_a": "x", "model_b": "x", "winner": "tie"}\n', "line 1: model 'x' battles itself"),
        ('{"model_a": "x", "model_b": "y", "winner": "tie"}\nnot json\n', "line 2: not valid JSON"),
        ("", "no battles"),
    ],
)
def test_bad_jsonl_names_the_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        from_battles(path)


def test_bad_csv_names_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("model_a,model_b,winner\nx,y,model_a\nx,y,draw\n")
    with pytest.raises(ValueError, match="line 3: unknown winner 'draw'"):
        from_battles(path)
    path.write_text("model_a,winner\nx,model_a\n")
    with pytest.raises(ValueError, match="line 1: header lacks fields model_b"):
        from_battles(path)


def test_model_with_no_battles(tmp_path):
    path = write_battles([{"model_a": "x", "model_b": "y", "winner": "tie"}], tmp_path / "l.csv")
    with pytest.raises(ValueError, match="model 'z' has no battles"):
        from_battles(path, models=["x", "y", "z"])
    with pytest.raises(ValueError, match="not found"):
        from_battles(tmp_path / "missing.jsonl")


@given(
    st.lists(
        st.tuples(
            st.sampled_from("abcd"),
            st.sampled_from("abcd"),
            st.sampled_from(["model_a", "model_b", "tie"]),
        ),
        min_size=1,
        max_size=40,
    ).filter(lambda rows: any(a != b for a, b, _ in rows))
)
def test_battle_invariants(rows):
    import tempfile
    from pathlib import Path

    records = [{"model_a": a, "model_b": b, "winner": w} for a, b, w in rows if a != b]
    with tempfile.TemporaryDirectory() as tmp:
        b = from_battles(write_battles(records, Path(tmp) / "log.jsonl"))
    np.testing.assert_array_equal(b.counts, b.counts.T)
    assert b.counts.sum() == 2 * len(records)
    np.testing.assert_allclose(b.P + b.P.T, 1.0)
    assert ((b.lower <= b.P + 1e-12) & (b.P <= b.upper + 1e-12)).all()
