"""League plots from a real SQLite store: every PNG exists, has the fixed size, is not blank."""

import matplotlib.image as mpimg
import numpy as np

from metagame.league.store import Store
from metagame.viz.plots import PIXELS, report


def _fill(store, rows, iterations=4):
    parent = None
    ids = []
    for it in range(iterations):
        prefix = "main" if it % 2 == 0 else "exploiter"
        p = rows.player(
            store,
            f"players/{it}",
            prefix=prefix,
            parent=parent,
            step=it * 100,
            iteration=it,
            reason="snapshot",
        )
        ids.append(p.id)
        parent = p.id
        for k, opp in enumerate(ids[:-1]):
            rows.match(
                store,
                f"{it}-{k}",
                [p.id, opp],
                [1.0, -1.0],
                iteration=it,
                outcome="player_0",
                length=5,
                seed=k,
            )
        store.record_ratings(
            it,
            [
                {
                    "player": pid,
                    "mu": 25.0 + j,
                    "sigma": 8.0 / (it + 1),
                    "elo": 1500.0 + j,
                    "nash": 1.0 / len(ids),
                    "alpharank": 1.0 / len(ids),
                    "games": it,
                }
                for j, pid in enumerate(ids)
            ],
        )
        store.record_meta_strategy(
            it,
            solver="nash",
            players=ids,
            probs=[1.0 / len(ids)] * len(ids),
            nash_conv=0.0,
            exploitability=0.5 / (it + 1),
        )
    return ids


def test_report_writes_every_plot_as_a_png_of_the_fixed_size(tmp_path, store_rows):
    with Store(tmp_path, create=True) as store:
        _fill(store, store_rows)
    paths = report(tmp_path)
    names = sorted(p.name for p in paths)
    assert names == [
        "exploitability.png",
        "lineage.png",
        "nash.png",
        "payoff.png",
        "predecessors.png",
        "ratings.png",
    ]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = mpimg.imread(path)
        assert image.shape[:2] == (PIXELS[1], PIXELS[0])
        assert len(np.unique(image.reshape(-1, image.shape[2]), axis=0)) > 10  # not blank


def test_report_on_a_fresh_run_still_writes_placeholders_without_exploitability(tmp_path):
    with Store(tmp_path, create=True):
        pass
    paths = report(tmp_path, out_dir=tmp_path / "out")
    assert sorted(p.name for p in paths) == [
        "lineage.png",
        "nash.png",
        "payoff.png",
        "predecessors.png",
        "ratings.png",
    ]
    assert all(p.parent == tmp_path / "out" for p in paths)


def test_predecessor_payoffs_weigh_by_games_and_skip_unplayed_pairs():
    from metagame.viz.plots import predecessor_payoffs

    payoffs = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.5, -0.5, 0.0]])
    counts = np.array([[0, 4, 3], [4, 0, 0], [3, 1, 0]])
    earlier, first = predecessor_payoffs(payoffs, counts)
    np.testing.assert_allclose(earlier, [np.nan, 1.0, (3 * 0.5 - 0.5) / 4])
    np.testing.assert_allclose(first, [np.nan, 1.0, 0.5])
    earlier, _ = predecessor_payoffs(payoffs, np.zeros((3, 3), dtype=int))
    assert np.isnan(earlier).all()


def test_importing_the_plots_changes_no_matplotlib_state():
    import subprocess
    import sys

    code = (  # read rcParams raw: get_backend() would itself resolve (and import) pyplot
        "import sys, matplotlib; raw = lambda: dict.__getitem__(matplotlib.rcParams, 'backend'); "
        "before = raw(); import metagame.viz.plots; "
        "print(before == raw(), 'matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["True", "False"], out.stderr
