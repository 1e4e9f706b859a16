"""League plots from a real SQLite store: every PNG exists, has the fixed size, is not blank."""

import matplotlib.image as mpimg
import numpy as np

from metagame.league.store import Store
from metagame.viz.plots import PIXELS, report


def _fill(store, iterations=4):
    parent = None
    ids = []
    for it in range(iterations):
        p = store.add_player(
            "main" if it % 2 == 0 else "exploiter",
            parent=parent,
            step=it * 100,
            iteration=it,
            checkpoint=f"players/{it}",
            reason="snapshot",
        )
        ids.append(p.id)
        parent = p.id
        for k, opp in enumerate(ids[:-1]):
            store.record_match(
                f"{it}-{k}",
                iteration=it,
                players=[p.id, opp],
                seats=["player_0", "player_1"],
                outcome="player_0",
                returns=[1.0, -1.0],
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
            value=0.0,
            exploitability=0.5 / (it + 1),
        )
    return ids


def test_report_writes_every_plot_as_a_png_of_the_fixed_size(tmp_path):
    with Store(tmp_path, create=True) as store:
        _fill(store)
    paths = report(tmp_path)
    names = sorted(p.name for p in paths)
    assert names == ["exploitability.png", "lineage.png", "nash.png", "payoff.png", "ratings.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = mpimg.imread(path)
        assert image.shape[:2] == (PIXELS[1], PIXELS[0])
        assert len(np.unique(image.reshape(-1, image.shape[2]), axis=0)) > 10  # not blank


def test_report_on_a_fresh_run_still_writes_placeholders_without_exploitability(tmp_path):
    with Store(tmp_path, create=True):
        pass
    paths = report(tmp_path, out_dir=tmp_path / "out")
    assert sorted(p.name for p in paths) == ["lineage.png", "nash.png", "payoff.png", "ratings.png"]
    assert all(p.parent == tmp_path / "out" for p in paths)
