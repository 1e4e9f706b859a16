"""League plots: what ``league report RUN_DIR`` writes, as PNG files, from the run's store.

- ``ratings.png``: OpenSkill (Weng & Lin 2011) mu over iterations with +-sigma bands;
- ``payoff.png``: the empirical payoff table between players, annotated with game counts;
- ``nash.png``: the meta-strategy's mass on each player over iterations (stacked);
- ``lineage.png``: the population as a tree, each snapshot under the player it came from, at
  the iteration it was made;
- ``predecessors.png``: each snapshot's mean payoff against the players made before it and
  against the first one (does the league still improve?);
- ``exploitability.png``: the exploitability of the league's mixture, where the game is tabular.

Every figure has the same size (``FIGSIZE`` at ``DPI``), so a report is easy to check and lay out.
Figures are ``matplotlib.figure.Figure`` objects, not pyplot's: drawing changes no global state
(no backend switch, no open figures) in the process that imports this module.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

FIGSIZE = (8.0, 5.0)
DPI = 100
PIXELS = (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))  # (width, height)


def _figure():
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    return fig, fig.subplots()


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)  # no bbox="tight": every file is exactly PIXELS
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
    """Players as a tree: each at the iteration it was made (x) and its generation (y, the
    number of ancestors, counted downward), joined to the player it came from."""
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

    groups = sorted({(p.population, p.kind) for p in players})
    colors = {g: matplotlib.colormaps["tab10"](k % 10) for k, g in enumerate(groups)}
    x = {p.id: p.iteration for p in players}
    for p in players:
        if p.parent in x:
            xs, ys = [x[p.parent], x[p.id]], [depth_of(p.parent), depth_of(p.id)]
            ax.plot(xs, ys, color="0.6", zorder=1)
    for group in groups:
        members = [p for p in players if (p.population, p.kind) == group]
        xs, ys = [x[p.id] for p in members], [depth_of(p.id) for p in members]
        label = group[1] if len({g[0] for g in groups}) == 1 else " ".join(group)
        ax.scatter(xs, ys, color=colors[group], label=label, zorder=2, s=40)
    if len(players) <= 30:
        for p in players:
            ax.annotate(
                p.id,
                (x[p.id], depth_of(p.id)),
                fontsize=6,
                xytext=(3, 3),
                textcoords="offset points",
            )
    ax.invert_yaxis()  # the first generation on top
    ax.set(xlabel="iteration made", ylabel="generation", title="Lineage")
    ax.legend(fontsize=7, title="role")
    return _save(fig, path)


def predecessor_payoffs(payoffs: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, ...]:
    """For players in creation order: each one's mean payoff against all players made before it
    (weighted by games) and against the first; NaN where no such game was played."""
    n = len(payoffs)
    earlier, first = np.full(n, np.nan), np.full(n, np.nan)
    for i in range(1, n):
        games = counts[i, :i]
        if games.sum():
            earlier[i] = games @ payoffs[i, :i] / games.sum()
        if counts[i, 0]:
            first[i] = payoffs[i, 0]
    return earlier, first


def plot_predecessors(ids: list[str], payoffs: np.ndarray, counts: np.ndarray, path: Path):
    fig, ax = _figure()
    earlier, first = predecessor_payoffs(payoffs, counts)
    if np.isnan(earlier).all():
        _empty(ax, "no games between a player and an earlier one yet")
        return _save(fig, path)
    order = np.arange(len(ids))
    ax.plot(order, earlier, marker="o", label="against all earlier players")
    ax.plot(order, first, marker=".", linestyle="--", label=f"against the first ({ids[0]})")
    ax.axhline(0.0, color="0.6", linewidth=1)
    if len(ids) <= 20:
        ax.set_xticks(order, ids, rotation=60, ha="right", fontsize=7)
    ax.set(
        xlabel="player (creation order)",
        ylabel="mean return",
        title="Each player against its predecessors",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
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
        plot_predecessors(ids, payoffs, counts, out / "predecessors.png"),
        plot_exploitability(metas, out / "exploitability.png"),
    ]
    return [p for p in paths if p is not None]
