"""Pairwise battle records -> win counts, an empirical preference matrix and confidence bounds.

A battle log is JSONL (one object per line) or CSV (a header line, then rows) with the fields
``model_a``, ``model_b`` and ``winner``, where ``winner`` is ``"model_a"``, ``"model_b"`` or a
tie (``"tie"``, ``"tie (bothbad)"``), as in Chatbot Arena's published battles (Chiang et al.,
2024). Ties count half a win to each side. ``P[i, j]`` is model i's share of its battles with
model j and ``lower``/``upper`` bound it by the Wilson score interval (Wilson, 1927) at the given
confidence; pairs that never met get P = 1/2 with bounds [0, 1].
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import norm

from metagame._arrays import as_preference_matrix
from metagame.envs.preference.jsonl import jsonl_records

FIELDS = ("model_a", "model_b", "winner")
OUTCOMES = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}


@dataclass(frozen=True)
class Battles:
    """Aggregated battles between ``models`` (sorted by name unless given)."""

    models: list[str]
    wins: np.ndarray  # wins[i, j]: i's wins over j, ties as half a win
    counts: np.ndarray  # counts[i, j] = counts[j, i]: battles between i and j
    P: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    confidence: float

    def contains(self, P) -> np.ndarray:
        """Boolean matrix: where ``P`` lies inside the confidence bounds."""
        P = np.asarray(P, dtype=float)
        return (self.lower <= P) & (P <= self.upper)


def wilson_interval(wins, counts, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion; [0, 1] where ``counts`` is 0."""
    wins, counts = np.asarray(wins, dtype=float), np.asarray(counts, dtype=float)
    z = norm.ppf(0.5 + confidence / 2)
    n = np.maximum(counts, 1.0)
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    met = counts > 0
    return np.where(met, np.clip(centre - half, 0, 1), 0.0), np.where(
        met, np.clip(centre + half, 0, 1), 1.0
    )


def _records(path: Path) -> Iterable[tuple[int, dict]]:
    """Yields (line number, record) from a JSONL or CSV battle log."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [k for k in FIELDS if k not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{path}: line 1: header lacks fields {', '.join(missing)}")
            for row in reader:
                yield reader.line_num, row
        return
    yield from jsonl_records(path)


def from_battles(
    path: str | Path, confidence: float = 0.95, models: Sequence[str] | None = None
) -> Battles:
    """Reads a JSONL or CSV battle log (see the module docstring).

    ``models`` fixes the candidate order and requires each to have battles. Raises ValueError
    naming the file and line for a missing field, an unknown winner value or a model battling
    itself, and naming the model for a listed model with no battles.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"battle log not found: {path}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    battles: list[tuple[str, str, float]] = []
    for number, record in _records(path):
        missing = [k for k in FIELDS if record.get(k) in (None, "")]
        if missing:
            raise ValueError(f"{path}: line {number}: missing field {', '.join(missing)}")
        a, b, winner = (str(record[k]).strip() for k in FIELDS)
        if winner not in OUTCOMES:
            raise ValueError(
                f"{path}: line {number}: unknown winner {winner!r} "
                f"(expected one of {', '.join(OUTCOMES)})"
            )
        if a == b:
            raise ValueError(f"{path}: line {number}: model {a!r} battles itself")
        battles.append((a, b, OUTCOMES[winner]))
    if not battles:
        raise ValueError(f"{path}: no battles")
    seen = sorted({m for a, b, _ in battles for m in (a, b)})
    names = list(seen if models is None else models)
    index = {m: i for i, m in enumerate(names)}
    if models is not None:
        idle = [m for m in names if m not in seen]
        if idle:
            raise ValueError(f"{path}: model {idle[0]!r} has no battles")
        unknown = [m for m in seen if m not in index]
        if unknown:
            raise ValueError(f"{path}: model {unknown[0]!r} is not in models")
    n = len(names)
    wins, counts = np.zeros((n, n)), np.zeros((n, n))
    for a, b, score in battles:
        i, j = index[a], index[b]
        wins[i, j] += score
        wins[j, i] += 1.0 - score
        counts[i, j] += 1
        counts[j, i] += 1
    P = np.where(counts > 0, wins / np.maximum(counts, 1), 0.5)
    lower, upper = wilson_interval(wins, counts, confidence)
    return Battles(names, wins, counts, P, lower, upper, float(confidence))


def sample_battles(
    P,
    battles_per_pair: int,
    seed: int = 0,
    models: Sequence[str] | None = None,
    tie_rate: float = 0.0,
) -> list[dict[str, str]]:
    """Battle records drawn from ``P``: each unordered pair meets ``battles_per_pair`` times.

    A battle is a tie with probability ``tie_rate``; otherwise model_a wins with the
    probability that makes model_a's expected score P[a, b]. Sides are shuffled.
    """
    P = as_preference_matrix(P)
    n = P.shape[0]
    names = list(models) if models is not None else [f"model_{i}" for i in range(n)]
    if len(names) != n:
        raise ValueError(f"models must name {n} candidates, got {len(names)}")
    off = P[~np.eye(n, dtype=bool)]
    if not 0 <= tie_rate < 1 or (off.size and (off.min() < tie_rate / 2 - 1e-12)):
        raise ValueError(f"tie_rate {tie_rate!r} is infeasible: needs tie_rate/2 <= P <= 1 - it")
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        for j in range(i + 1, n):
            for _ in range(int(battles_per_pair)):
                a, b = (i, j) if rng.random() < 0.5 else (j, i)
                if rng.random() < tie_rate:
                    winner = "tie"
                else:
                    q = (P[a, b] - tie_rate / 2) / (1 - tie_rate)
                    winner = "model_a" if rng.random() < q else "model_b"
                records.append({"model_a": names[a], "model_b": names[b], "winner": winner})
    return records


def write_battles(records: Iterable[dict], path: str | Path) -> Path:
    """Writes battle records as CSV (``.csv``) or JSONL (anything else)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        if path.suffix.lower() == ".csv":
            writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(records)
        else:
            for record in records:
                f.write(json.dumps(record) + "\n")
    return path
