"""benchmarks/league_quality.py's plumbing: an anchor subprocess's samples, and progress.csv.

The benchmark itself runs for minutes; these check, in seconds, that what it tabulates is what
the sides measured: a real CFR+ anchor (exact exploitability from the uniform policy's known
value down), and the league's progress.csv as the runner writes it.
"""

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def quality():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import league_quality

        yield league_quality
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_cfr_plus_anchor_samples_fall_from_the_uniform_policy(quality):
    samples, note = quality.run_anchor(sys.executable, "cfr_plus", "kuhn_poker", 2.0, [1.0], 0)
    assert note == ""
    walls = [s["wall"] for s in samples]
    assert walls == sorted(walls) and walls[-1] >= 2.0
    # before any iteration CFR+'s average policy is uniform: exploitability 11/24 on Kuhn
    assert samples[0]["exploitability"] == pytest.approx(11 / 24)
    assert quality.value_at(samples, 2.0) < 1e-3
    assert quality.value_at(samples, walls[0] / 2) is None
    # the value at a time is the last sample's at or before it
    middle = samples[len(samples) // 2]
    assert quality.value_at(samples, middle["wall"]) == middle["exploitability"]


def test_progress_rows_are_read_as_the_runner_writes_them(quality, tmp_path):
    from metagame.league.run_dir import RunDir

    rows = [
        {"iteration": 0, "steps": 2000, "wall": 11.5, "steps_per_s": 173.9, "league_size": 2,
         "exploitability": 0.31, "return_mean": 0.0},
        {"iteration": 1, "steps": 4000, "wall": 20.25, "steps_per_s": 228.6, "league_size": 3,
         "exploitability": "", "return_mean": ""},
    ]  # fmt: skip
    run_dir = RunDir(tmp_path)
    for row in rows:
        run_dir.append_progress(row)
    seen = {}
    quality._read_progress(tmp_path, seen, now=30.0)
    assert sorted(seen) == [0, 1]
    assert seen[0]["exploitability"] == 0.31 and seen[1]["exploitability"] is None
    assert seen[1]["steps"] == 4000 and seen[1]["league_wall"] == 20.25
    assert all(s["wall"] == 30.0 for s in seen.values())
    quality._read_progress(tmp_path, seen, now=99.0)  # rows already seen keep their time
    assert seen[0]["wall"] == 30.0


def test_answer_curves_are_the_last_snapshot_and_the_uniform_average(quality, tmp_path):
    """Checked against OpenSpiel's own mixture (PolicyAggregator) and best responses: for a
    two-player zero-sum game the exploitability is the mean of the best-response values."""
    from functools import partial

    import numpy as np

    from metagame.agents.exact_response import exact_best_response
    from metagame.league.exploitability import action_probabilities
    from metagame.league.population import save_player
    from metagame.league.store import Store

    game = "openspiel:kuhn_poker"

    def uniform(observation):
        mask = np.asarray(observation["action_mask"], dtype=np.float64)
        return mask / mask.sum()

    def exploitability(policies, weights):
        members = [partial(action_probabilities, p) for p in policies]
        return np.mean(list(exact_best_response(game, members, weights).values.values()))

    first = exact_best_response(game, [uniform], [1.0]).policy
    second = exact_best_response(game, [partial(action_probabilities, first)], [1.0]).policy
    with Store(tmp_path, create=True) as store:
        for iteration, policy in ((1, first), (3, second)):
            save_player(store, policy.module, prefix="response", kind="response",
                        population="player", parent=None, step=0, iteration=iteration,
                        reason="a best response")  # fmt: skip
    seen = {it: {"wall": 10.0 * it, "exploitability": None, "steps": it} for it in (1, 2, 3)}
    curves = quality.answer_curves(tmp_path, {"name": game, "kwargs": {}}, seen)
    assert [s["wall"] for s in curves["last"]] == [10.0, 20.0, 30.0]
    alone = exploitability([first], [1.0])
    assert [s["exploitability"] for s in curves["average"][:2]] == pytest.approx([alone] * 2)
    assert curves["last"][2]["exploitability"] == pytest.approx(exploitability([second], [1.0]))
    both = exploitability([first, second], [0.5, 0.5])
    assert curves["average"][2]["exploitability"] == pytest.approx(both)
    assert both < alone  # the average of a best response and its best response is better


def test_an_anchor_always_reports_once_its_budget_has_passed(capsys):
    """The anchors' loop read the clock twice after each chunk of training: when the budget
    passed between the two readings, the run ended without its last evaluation (seen in CI)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import _openspiel_anchors as anchors
    finally:
        sys.path.remove(str(BENCHMARKS))

    class SteppingClock(anchors.Clock):
        """Every reading is 0.3 s after the one before."""

        def __init__(self):
            super().__init__()
            self.t = 0.0

        def now(self):
            self.t += 0.3
            return self.t

    anchors.run(lambda: 1, lambda: 0.5, 1.0, [], SteppingClock())
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[-1]["wall"] >= 1.0 and rows[-1]["steps"] >= 1
