"""League plots: what ``league report RUN_DIR`` writes, as PNG files, from the run's store.

- ``ratings.png``: OpenSkill (Weng & Lin 2011) mu over iterations with +-sigma bands;
- ``payoff.png``: the empirical payoff table between players, annotated with game counts;
- ``nash.png``: the meta-strategy's mass on each player over iterations (stacked);
- ``lineage.png``: the population as a tree, each snapshot under the player it came from;
- ``exploitability.png``: the exploitability of the league's mixture, where the game is tabular.

Every figure has the same size (``FIGSIZE`` at ``DPI``), so a report is easy to check and lay out.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

FIGSIZE = (8.0, 5.0)
DPI = 100
PIXELS = (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))  # (width, height)


def _figure():
    return plt.subplots(figsize=FIGSIZE, dpi=DPI)


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)  # no bbox="tight": every file is exactly PIXELS
    plt.close(fig)
    return path


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def plot_ratings(history: list[dict], path: Path) -> Path:
    fig, ax = _figure()
    by_player: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    for row in history:
        by_player[row["player"]].append((row["iteration"], row["mu"], row["sigma"]))
    if not by_player:
        _empty(ax, "no ratings yet")
    for player, rows in sorted(by_player.items()):
        it, mu, sigma = (np.array(c) for c in zip(*sorted(rows)))
        (line,) = ax.plot(it, mu, marker=".", label=player)
        ax.fill_between(it, mu - sigma, mu + sigma, color=line.get_color(), alpha=0.15)
    if by_player:
        ax.set(xlabel="iteration", ylabel="OpenSkill mu (band: +-sigma)", title="Ratings")
        ax.legend(fontsize=7, ncol=2, loc="best")
    return _save(fig, path)


def plot_payoffs(ids: list[str], payoffs: np.ndarray, counts: np.ndarray, path: Path) -> Path:
    fig, ax = _figure()
    if not ids:
        _empty(ax, "no matches yet")
        return _save(fig, path)
    limit = max(float(np.abs(payoffs).max()), 1e-9)
    image = ax.imshow(payoffs, cmap="RdBu", vmin=-limit, vmax=limit)
    fig.colorbar(image, ax=ax, label="mean return of row player")
    ticks = np.arange(len(ids))
    ax.set_xticks(ticks, ids, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(ticks, ids, fontsize=7)
    if len(ids) <= 16:
        for i in range(len(ids)):
            for j in range(len(ids)):
                if counts[i, j]:
                    ax.text(
                        j,
                        i,
                        f"{payoffs[i, j]:+.2f}\n({counts[i, j]})",
                        ha="center",
                        va="center",
                        fontsize=6,
                    )
    ax.set_title("Payoff table (games played in brackets)")
    fig.tight_layout()
    return _save(fig, path)


def plot_meta_strategies(history: list[dict], path: Path) -> Path:
    fig, ax = _figure()
    if not history:
        _empty(ax, "no meta-strategy yet")
        return _save(fig, path)
    players = sorted({p for row in history for p in row["players"]})
    iterations = [row["iteration"] for row in history]
    mass = np.zeros((len(players), len(history)))
    index = {p: i for i, p in enumerate(players)}
    for t, row in enumerate(history):
        for p, prob in zip(row["players"], row["probs"]):
            mass[index[p], t] = prob
    ax.stackplot(iterations, mass, labels=players)
    ax.set(
        xlabel="iteration",
        ylabel="probability",
        ylim=(0, 1),
        title=f"Meta-strategy mass ({history[-1]['solver']})",
    )
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    return _save(fig, path)


def plot_lineage(players: list, path: Path) -> Path:
    """Players as a tree: depth is the number of ancestors, parents above their snapshots."""
    fig, ax = _figure()
    if not players:
        _empty(ax, "no players yet")
        return _save(fig, path)
    parent = {p.id: p.parent for p in players}
    depth: dict[str, int] = {}

    def depth_of(pid: str) -> int:
        if pid not in depth:
            up = parent.get(pid)
            depth[pid] = 0 if up is None or up not in parent else depth_of(up) + 1
        return depth[pid]

    roles = sorted({p.role for p in players})
    colors = {r: plt.get_cmap("tab10")(k % 10) for k, r in enumerate(roles)}
    x = {p.id: k for k, p in enumerate(players)}
    for p in players:
        if p.parent in x:
            ax.plot(
                [x[p.parent], x[p.id]],
                [-depth_of(p.parent), -depth_of(p.id)],
                color="0.6",
                zorder=1,
            )
    for role in roles:
        members = [p for p in players if p.role == role]
        ax.scatter(
            [x[p.id] for p in members],
            [-depth_of(p.id) for p in members],
            color=colors[role],
            label=role,
            zorder=2,
            s=40,
        )
    if len(players) <= 30:
        for p in players:
            ax.annotate(
                p.id,
                (x[p.id], -depth_of(p.id)),
                fontsize=6,
                xytext=(3, 3),
                textcoords="offset points",
            )
    ax.set(xlabel="player (creation order)", ylabel="generation (down)", title="Lineage")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_exploitability(history: list[dict], path: Path) -> Path | None:
    points = [
        (r["iteration"], r["exploitability"])
        for r in history
        if r.get("exploitability") is not None
    ]
    if not points:
        return None
    fig, ax = _figure()
    it, value = zip(*points)
    ax.plot(it, value, marker="o")
    if min(value) > 0:
        ax.set_yscale("log")
    ax.set(
        xlabel="iteration",
        ylabel="exploitability (NashConv / players)",
        title="Exploitability of the league's meta-strategy",
    )
    return _save(fig, path)


def report(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Writes the league's plots (PNG) to ``out_dir`` (``RUN_DIR/report``); returns the paths."""
    from metagame.league.store import Store, payoff_table

    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    with Store(run_dir, readonly=True) as store, store.transaction():
        players = store.players()
        matches = store.matches()
        history = store.rating_history()
        metas = store.meta_strategies()
    ids = [p.id for p in players]
    payoffs, counts = payoff_table(matches, ids)
    played = [i for i in range(len(ids)) if counts[i].any()]
    paths = [
        plot_ratings(history, out / "ratings.png"),
        plot_payoffs(
            [ids[i] for i in played],
            payoffs[np.ix_(played, played)],
            counts[np.ix_(played, played)],
            out / "payoff.png",
        ),
        plot_meta_strategies(metas, out / "nash.png"),
        plot_lineage(players, out / "lineage.png"),
        plot_exploitability(metas, out / "exploitability.png"),
    ]
    return [p for p in paths if p is not None]
