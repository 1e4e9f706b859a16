"""Evaluation: intervals against independent computations, seat swapping, the shell command."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from metagame.agents.evaluation import evaluate, main, mean_interval, wilson_interval
from metagame.agents.policy import MixedStrategyPolicy, save_policy


@given(n=st.integers(1, 500), data=st.data())
@settings(max_examples=60, deadline=None)
def test_wilson_interval_is_where_the_score_test_accepts(n, data):
    k = data.draw(st.integers(0, n))
    ci = wilson_interval(k, n)
    z, p = stats.norm.ppf(0.975), k / n

    def score(p0):  # > 0 outside the interval: |p - p0| beyond z standard errors at p0
        return (p - p0) ** 2 - z * z * p0 * (1 - p0) / n

    low = 0.0 if k == 0 else optimize.brentq(score, 1e-15, p - 1e-12)
    high = 1.0 if k == n else optimize.brentq(score, p + 1e-12, 1 - 1e-15)
    assert ci.low == pytest.approx(low, abs=1e-9) and ci.high == pytest.approx(high, abs=1e-9)


def test_mean_interval_is_scipys_t_interval():
    x = np.random.default_rng(0).normal(1.0, 2.0, size=40)
    low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    ci = mean_interval(x)
    assert (ci.low, ci.high) == pytest.approx((low, high))
    assert mean_interval(np.ones(5)).low == 1.0  # no spread: a point


def test_results_follow_the_policies_across_swapped_seats():
    defect = MixedStrategyPolicy([0.0, 1.0], id="defect")
    cooperate = MixedStrategyPolicy([1.0, 0.0], id="cooperate")
    kwargs = {"game": "prisoners_dilemma", "rounds": 1}
    ev = evaluate("matrix", [defect, cooperate], episodes=21, seed=0, env_kwargs=kwargs)
    assert ev.episodes == 21
    assert [s.policy for s in ev.seats] == ["defect", "cooperate"]
    assert ev.seats[0].mean_return.estimate == 5.0 and ev.seats[1].mean_return.estimate == 0.0
    assert ev.seats[0].win_rate.estimate == 1.0 and ev.draw_rate.estimate == 0.0
    assert "defect" in ev.table()
    with pytest.raises(ValueError, match="episodes"):
        evaluate("matrix", [defect, cooperate], episodes=0, env_kwargs=kwargs)


def test_shell_command(tmp_path, capsys):
    path = save_policy(MixedStrategyPolicy([0.5, 0.5], id="half"), tmp_path / "half")
    assert main(["openspiel:kuhn_poker", str(path), "random", "--episodes", "40"]) == 0
    out = capsys.readouterr().out
    assert "40 episodes" in out and "half" in out and "random_1" in out
    for argv in (
        ["openspiel:no_such_game", "random"],
        ["openspiel:kuhn_poker", str(tmp_path / "missing"), "random"],
        ["openspiel:kuhn_poker", "random", "random", "--env-kwargs", "[1]"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("evaluate: error:")
