"""The ``league`` command line: start, status, resume, stop, solve, watch, report.

``status`` and ``solve`` read the store only (inside one transaction), so they work, and agree
with each other, while a league is writing. User errors (a missing, damaged or foreign file, a
bad config, an unknown game, a path that cannot be written, a run directory in use) print one
line and exit with status 2: each check of the user's input raises :class:`UserError`, and an
API ``ValueError`` is turned into one only where the user's input is its cause
(:func:`user_input`). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from metagame._compile_notice import announce_compilation
from metagame.league import config as config_mod
from metagame.league.population import SOLVERS
from metagame.league.run_dir import CONFIG_FILE, DB_NAME, RunDir
from metagame.league.store import Store

EXIT_USER_ERROR = 2
RESTRICTED_GAME = "restricted-game"  # `league solve --solver`: XDO's restricted game
T = TypeVar("T")


class UserError(Exception):
    """Anything the user can fix: printed as one line, exit status 2."""


def one_line(text: str) -> str:
    """``text`` on one line: runs of spaces and newlines become one space, and any other
    unprintable character (which a terminal could take as a line break) its escape."""
    text = " ".join(text.split(" "))
    text = " ".join(part.strip() for part in text.splitlines())
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def user_input(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Calls an API function on the user's input; its ValueError becomes a UserError."""
    try:
        return call(*args, **kwargs)
    except ValueError as err:
        raise UserError(str(err)) from None


def _store(run_dir: str, readonly: bool = True) -> Store:
    """The run directory's store, every row of it readable: damage that SQLite's own check
    misses (a value overwritten inside a record) is a UserError naming the file."""
    if not (Path(run_dir) / DB_NAME).is_file():
        raise UserError(f"{run_dir} is not a league run directory (no {DB_NAME})")
    store = user_input(Store, run_dir, readonly=readonly)
    try:
        with store.transaction():
            store.read_all()
    except (ValueError, sqlite3.DatabaseError) as err:
        store.close()
        raise UserError(f"{store.path} is damaged: {err}") from None
    return store


def _writable_dir(path: Path, what: str) -> None:
    """Refuses a directory path that names a file, or lies under one."""
    for node in (path, *path.parents):
        if node.exists():
            if not node.is_dir():
                raise UserError(f"{what} {path}: {node} is a file, not a directory")
            return


# -- status -----------------------------------------------------------------------------------


def status_data(run_dir: str) -> dict[str, Any]:
    """Everything ``league status`` shows, read in one consistent snapshot of the store."""
    from metagame.league.evaluation import CROSS_PLAY

    with _store(run_dir) as store, store.transaction():
        players = store.players()
        ratings = {r["player"]: r for r in store.ratings()}
        metas = store.meta_strategies()
        iterations = store.iterations()
        meta = {
            k: store.get_meta(k)
            for k in ("status", "stop_reason", "iteration", "steps", "wall", "pid", "config")
        }
        replays = store.replay_matches()
        team = [m for m in store.matches() if m.key.startswith(CROSS_PLAY)]
        game = (meta["config"] or {}).get("game", {})
        num_matches = store.count_matches()
    last_meta = metas[-1] if metas else None
    mass = dict(zip(last_meta["players"], last_meta["probs"])) if last_meta else {}
    rows = []
    for p in players:
        r = ratings.get(p.id, {})
        rows.append(
            {
                "player": p.id,
                "kind": p.kind,
                "population": p.population,
                "parent": p.parent,
                "step": p.step,
                "iteration": p.iteration,
                "active": p.active,
                "reason": p.reason,
                "mu": r.get("mu"),
                "sigma": r.get("sigma"),
                "elo": r.get("elo"),
                "nash": mass.get(p.id, 0.0),
                "games": r.get("games", 0),
            }
        )
    rows.sort(key=lambda r: (r["mu"] is None, -(r["mu"] or 0.0)))
    recent = iterations[-5:]
    return {
        "run_dir": str(run_dir),
        "game": game,
        "status": meta["status"],
        "stop_reason": meta["stop_reason"],
        "continue": _how_to_continue(run_dir, meta),
        "running": _running(run_dir),
        "iteration": meta["iteration"],
        "steps": meta["steps"],
        "wall_time_s": meta["wall"],
        "steps_per_s": float(np.mean([i["steps_per_s"] for i in recent])) if recent else None,
        "league_size": sum(p.active for p in players),
        "matches": num_matches,
        "last_snapshot": players[-1].id if players else None,
        "answer": _answer(meta["config"] or {}),
        "exploitability": [
            {"iteration": m["iteration"], "exploitability": m["exploitability"]}
            for m in metas
            if m["exploitability"] is not None
        ],
        "nash_conv": last_meta["nash_conv"] if last_meta else None,
        "meta_solver": last_meta["solver"] if last_meta else None,
        "cross_play": _cross_play(players, team) if team else None,
        "standings": rows,
        "replays": replays,
    }


def _cross_play(players: Sequence[Any], matches: Sequence[Any]) -> dict[str, Any]:
    """A team league's cross-play table over its active players (null where unplayed)."""
    from metagame.league.evaluation import cross_play

    ids = [p.id for p in players if p.active]
    table = cross_play(matches, ids)
    return {"players": ids, "team_return": [[_finite(v) for v in row] for row in table]}


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _how_to_continue(run_dir: str, meta: dict[str, Any]) -> str | None:
    """The command that continues a league its wall-time budget stopped."""
    budget = (meta["config"] or {}).get("budget", {})
    if meta["status"] != "out of time" or not budget.get("wall_time_s"):
        return None
    return _continue_command(run_dir, meta["wall"], budget["wall_time_s"])


def _continue_command(run_dir: str, wall: float, budget: float) -> str:
    """`league resume` with the wall-time budget raised by as much again."""
    return f"league resume {run_dir} --wall-time {int(np.ceil(wall + budget))}"


def _running(run_dir: str) -> bool:
    """True while a league process holds the run directory's lock."""
    return RunDir(run_dir).locked()


def _fmt(value: Any, digits: int = 2) -> str:
    return (
        "-" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    )


def _standings_tables(rows: list[dict[str, Any]], title: str, limit: int | None = None):
    """One standings table per population (the roles it plays share it)."""
    populations = list(dict.fromkeys(r["population"] for r in rows))
    if len(populations) <= 1:
        return [_standings_table(rows, title, limit)]
    return [
        _standings_table([r for r in rows if r["population"] == pop], f"{title}: {pop}", limit)
        for pop in populations
    ]


def _standings_table(rows: list[dict[str, Any]], title: str, limit: int | None = None):
    """The standings; a kind every player shares goes in the title, not in a column."""
    from rich.table import Table

    rows = rows[:limit]
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    columns = ["kind", "parent"] if len(kinds) > 1 else ["parent"]
    table = Table(title=title if len(kinds) > 1 else f"{title} ({kinds[0]})" if kinds else title)
    widest = max((len(r["player"]) for r in rows), default=6)
    table.add_column("player", no_wrap=True, min_width=widest)  # ids whole; parent gives way
    for column in columns:
        table.add_column(column)
    for column in ("step", "mu", "sigma", "elo", "nash", "games"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            r["player"] + ("" if r.get("active", True) else " (retired)"),
            *([r["kind"]] if len(columns) == 2 else []),
            r["parent"] or "-",
            str(r["step"]),
            _fmt(r["mu"]),
            _fmt(r["sigma"]),
            _fmt(r["elo"], 0),
            _fmt(r["nash"], 3),
            str(r["games"]),
        )
    return table


def _ids(ids: Sequence[int], limit: int = 30) -> str:
    more = f", ... ({len(ids)} in all)" if len(ids) > limit else ""
    return ", ".join(map(str, ids[:limit])) + more


def cmd_status(args: argparse.Namespace) -> int:
    data = status_data(args.run_dir)
    if args.json:
        print(json.dumps(data, indent=1))
        return 0
    from rich.console import Console

    console = Console()
    state = "running" if data["running"] else data["status"]
    if not data["running"] and data["stop_reason"]:
        state += f" ({data['stop_reason']})"
    console.print(
        f"[bold]{data['run_dir']}[/]  game {data['game'].get('name')}  {state}  "
        f"iteration {data['iteration']}  steps {data['steps']}  "
        f"{_fmt(data['steps_per_s'], 0)} steps/s  league size {data['league_size']}  "
        f"matches {data['matches']}  last snapshot {data['last_snapshot']}"
    )
    console.print(*_standings_tables(data["standings"], "standings"))
    if data["exploitability"]:
        last = data["exploitability"][-1]
        console.print(
            f"exploitability of the league's {data['answer']}: {last['exploitability']:.4f} "
            f"(iteration {last['iteration']})"
        )
    if data["replays"]:
        console.print(f"matches with replays (league watch --match ID): {_ids(data['replays'])}")
    if data["continue"] and not data["running"]:
        console.print(f"to continue: {data['continue']}")
    return 0


# -- solve ------------------------------------------------------------------------------------


def solve_data(run_dir: str, solver: str, out: Path) -> dict[str, Any]:
    """Solves the league and writes each population's mixture as a policy under ``out``
    (``out`` itself for a one-population league, else ``out/<population>``); with
    ``restricted-game``, the equilibrium of XDO's restricted game, one table policy."""
    from metagame.league.population import save_mixture, solve_population

    if solver == RESTRICTED_GAME:
        return _restricted_data(run_dir, out)
    with _store(run_dir) as store:
        answer = user_input(solve_population, store, solver)
    populations = {}
    for pop, players in answer.players.items():
        probs = np.asarray(answer.probs[pop])
        path = out if len(answer.players) == 1 else out / pop
        save_mixture(path, run_dir, players, probs, answer.solver)
        order = np.argsort(-probs, kind="stable")
        populations[pop] = {
            "roles": [r for r, p in answer.roles.items() if p == pop],
            "players": [players[i].id for i in order],
            "probabilities": [float(probs[i]) for i in order],
            "policy": str(path),
        }
    return {
        "solver": answer.solver,
        "nash_conv": answer.nash_conv,
        "populations": populations,
        "joint": None if answer.joint is None else np.asarray(answer.joint).tolist(),
    }


def _restricted_data(run_dir: str, out: Path) -> dict[str, Any]:
    from metagame.agents.policy import save_policy
    from metagame.league.restricted_answer import solve_run

    with _store(run_dir) as store:
        policy, solution, exploitability = user_input(solve_run, store, run_dir)
    save_policy(policy, out)
    return {
        "solver": RESTRICTED_GAME,
        "exploitability": exploitability,
        "coverage": solution.coverage,
        "policy": str(out),
    }


def cmd_solve(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else Path(args.run_dir) / "solve" / args.solver
    _writable_dir(out, "--out")
    data = solve_data(args.run_dir, args.solver, out)
    if args.json:
        print(json.dumps(data, indent=1))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if args.solver == RESTRICTED_GAME:
        console.print(
            f"the restricted game's equilibrium (CFR+ over {data['coverage']:.1%} of the "
            f"game's actions): exploitability {data['exploitability']:.4g}\n"
            f"written as a policy: {data['policy']}  (metagame.agents.policy.load_policy)"
        )
        return 0
    for pop, mix in data["populations"].items():
        table = Table(
            title=f"{data['solver']} mixture of population {pop} (roles: {', '.join(mix['roles'])})"
        )
        table.add_column("player")
        table.add_column("probability", justify="right")
        for pid, p in zip(mix["players"], mix["probabilities"]):
            if p > 1e-6:
                table.add_row(pid, f"{p:.4f}")
        console.print(table)
        console.print(
            f"written as a policy: {mix['policy']}  (metagame.league.population.load_mixture)"
        )
    if data["joint"] is not None:
        console.print("joint distribution over profiles (--json prints it whole)")
    console.print(f"NashConv of the answer on the empirical game: {data['nash_conv']:.4g}")
    return 0


# -- start / resume / stop ----------------------------------------------------------------------


START_EXAMPLES = """examples:
  league start configs/quickstart.yaml                     # PPO self-play on Kuhn poker
  league start configs/quickstart.yaml --run-dir runs/k1 --seed 1
  league start my.yaml --address ray://head:10001          # on an existing Ray cluster
  league status runs/quickstart                            # while it runs, from another shell
"""


class Display:
    """The live view of a running league. On a terminal: a progress bar over the iteration
    budget that keeps ticking during an iteration (elapsed time, ETA, the wall budget left),
    with the standings under it, redrawn in place. Otherwise (logs, CI): one line per
    iteration, never redrawn."""

    def __init__(
        self,
        quiet: bool,
        budget: config_mod.BudgetConfig | None = None,
        console: Any = None,
        answer: str = "mixture",
    ):
        from rich.console import Console

        self.quiet = quiet
        self.budget = budget
        self.answer = answer  # whose exploitability the league records (see ``_answer``)
        self.console = console or Console()
        self.live = None
        self.progress = None
        if not quiet and self.console.is_terminal:
            self._start_live()

    def _start_live(self) -> None:
        from rich.live import Live
        from rich.progress import Progress, SpinnerColumn

        from metagame.progress import bar_columns

        self.progress = Progress(SpinnerColumn(), *bar_columns(), console=self.console)
        total = self.budget.iterations if self.budget is not None else None
        self.task = self.progress.add_task("league: starting Ray and the learners", total=total)
        self.live = Live(self.progress, console=self.console, refresh_per_second=4)
        self.live.start()

    def __call__(self, info: Any) -> None:
        """Shows one iteration's :class:`metagame.league.runner.IterationInfo`."""
        if self.quiet:
            return
        s = info.standings
        top = sorted(zip(s.ids, s.mu, s.sigma), key=lambda t: -t[1])[:5]
        meta = sorted(((k, v) for k, v in info.meta.items() if v > 0.01), key=lambda kv: -kv[1])
        expl = info.exploitability
        if self.live is None:
            from rich.markup import escape

            self.console.print(
                f"[bold]it {info.iteration:3d}[/] steps {info.steps:7d} "
                f"{info.steps_per_s:7.0f}/s  league {len(s.ids):2d}  top "
                + " ".join(f"{pid}({mu:.1f}±{sg:.1f})" for pid, mu, sg in top[:3])
                + escape(f"  meta [{', '.join(f'{k} {v:.2f}' for k, v in meta)}]")
                + ("" if expl is None else f"  exploitability of the {self.answer} {expl:.4f}")
            )
            return
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        wall = self.budget.wall_time_s if self.budget is not None else None
        left = "" if wall is None else f", wall budget left {max(0.0, wall - info.wall):.0f} s"
        self.progress.update(
            self.task,
            completed=info.iteration,
            description=f"league: iteration {info.iteration + 1} training, "
            f"{info.steps} steps so far ({info.steps_per_s:.0f}/s){left}",
        )
        summary = Text(
            f"after iteration {info.iteration}: {len(s.ids)} players"
            + ("" if expl is None else f", exploitability of the {self.answer} {expl:.4f}")
        )
        table = Table()
        table.add_column("top players (mu ± sigma)")
        table.add_column("meta-strategy")
        for k in range(max(len(top), len(meta))):
            row = f"{top[k][0]}  {top[k][1]:.1f} ± {top[k][2]:.1f}" if k < len(top) else ""
            mix = f"{meta[k][0]}  {meta[k][1]:.3f}" if k < len(meta) else ""
            table.add_row(row, mix)
        self.live.update(Group(self.progress, summary, table))

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def _answer(config: dict[str, Any]) -> str:
    """What the league answers with, whose exploitability it records (see
    ``evaluation.answer`` and the ``xdo`` mode)."""
    from metagame.league.modes import MODES

    mode = MODES.get(config.get("mode", {}).get("name"))
    restricted = mode is not None and mode.restricted
    if restricted or config.get("evaluation", {}).get("answer") == "restricted_game":
        return "restricted-game equilibrium"
    return "mixture"


def _summary(run_dir: str) -> None:
    from rich.console import Console

    from metagame.league.population import solve_population

    console = Console()
    data = status_data(run_dir)
    console.print(*_standings_tables(data["standings"], "final standings", limit=15))
    solver = "minimax-winner" if data["game"].get("name", "").startswith("preference") else "nash"
    with _store(run_dir) as store:
        answer = solve_population(store, solver)
    for pop, players in answer.players.items():
        mixture = ", ".join(
            f"{p.id} {q:.3f}" for p, q in zip(players, answer.probs[pop]) if q > 1e-3
        )
        console.print(f"[bold]{answer.solver} mixture of {pop}:[/] {mixture}")
    if data["exploitability"]:
        trace = " -> ".join(f"{e['exploitability']:.3f}" for e in data["exploitability"])
        console.print(f"[bold]exploitability of the league's {data['answer']}:[/] {trace}")


def _run(
    cfg: config_mod.LeagueConfig, run_dir: str, config: str | Path, *, resume: bool, quiet: bool
) -> int:
    """Runs the league of ``cfg`` (read from ``config``) in ``run_dir``. Everything about the
    config that can be checked before Ray starts is, first: the game exists and suits a league,
    and RLlib accepts the learner's hyperparameters."""
    if _running(run_dir):  # checked before importing Ray; League also holds the lock itself
        raise UserError(f"run directory {run_dir} is in use by another league")
    from metagame.league.population import CheckpointError
    from metagame.league.run_dir import LeagueBusyError
    from metagame.league.runner import league_for

    league = league_for(cfg, run_dir, resume=resume)
    try:
        league.check()
    except ValueError as err:
        raise UserError(config_mod.locate(config, str(err))) from None
    display = Display(quiet, cfg.budget, answer=_answer(cfg.model_dump(mode="json")))
    league.display = display
    try:
        info = league.run()
    except (LeagueBusyError, CheckpointError) as err:
        raise UserError(str(err)) from None
    finally:
        display.close()
    if not quiet:
        _summary(run_dir)
    print(f"league {info.status}: {run_dir}: {info.reason}")
    if info.status == "out of time":
        print(f"to continue: {_continue_command(run_dir, info.wall, cfg.budget.wall_time_s)}")
    return 0


def _overrides(cfg: config_mod.LeagueConfig, **changes: Any) -> config_mod.LeagueConfig:
    changes = {k: v for k, v in changes.items() if v is not None}
    return user_input(cfg.with_overrides, **changes) if changes else cfg


def cmd_start(args: argparse.Namespace) -> int:
    cfg = user_input(config_mod.load, args.config)
    cfg = _overrides(cfg, seed=args.seed, **{"ray.address": args.address})
    run_dir = args.run_dir or str(Path("runs") / cfg.name)
    _writable_dir(Path(run_dir), "--run-dir")
    if (Path(run_dir) / DB_NAME).exists():
        raise UserError(f"{run_dir} already holds a league; use `league resume {run_dir}`")
    return _run(cfg, run_dir, args.config, resume=False, quiet=args.quiet)


def cmd_resume(args: argparse.Namespace) -> int:
    with _store(args.run_dir) as store:
        ckpt = store.get_meta("checkpoint") or {"iteration": 0, "steps": 0, "wall": 0.0}
    cfg = user_input(config_mod.load, Path(args.run_dir) / CONFIG_FILE)
    cfg = _overrides(
        cfg,
        **{
            "ray.address": args.address,
            "budget.iterations": args.iterations,
            "budget.wall_time_s": args.wall_time,
        },
    )
    spent = cfg.budget.spent(ckpt["iteration"], ckpt["steps"], ckpt["wall"])
    if spent is not None:
        b = cfg.budget
        more = (
            _continue_command(args.run_dir, ckpt["wall"], b.wall_time_s)
            if spent[0] == "out of time"
            else f"league resume {args.run_dir} --iterations {ckpt['iteration'] + 10}"
        )
        raise UserError(f"the league in {args.run_dir} {spent[1]}; to go on: {more}")
    return _run(cfg, args.run_dir, Path(args.run_dir) / CONFIG_FILE, resume=True, quiet=args.quiet)


def cmd_stop(args: argparse.Namespace) -> int:
    with _store(args.run_dir):
        pass
    if not _running(args.run_dir):
        print(f"no league is running in {args.run_dir}")
        return 0
    with _store(args.run_dir, readonly=False) as store:
        store.set_meta(stop_requested=True)
    print(f"asked the league in {args.run_dir} to stop after its current iteration")
    if args.wait:
        while _running(args.run_dir):
            time.sleep(0.5)
        print("stopped")
    return 0


# -- viewer commands ------------------------------------------------------------------------


def _viz(module: str, attr: str):
    import importlib

    try:
        return getattr(importlib.import_module(f"metagame.viz.{module}"), attr)
    except (ImportError, AttributeError) as err:
        raise UserError(f"metagame.viz.{module}.{attr} is not available: {err}") from None


def cmd_watch(args: argparse.Namespace) -> int:
    from metagame.league.evaluation import replay_file
    from metagame.league.population import load_player

    with _store(args.run_dir) as store:
        if args.list:
            print(f"matches with replays in {args.run_dir}: {_ids(store.replay_matches()) or '-'}")
            return 0
        if args.live is not None:  # one player per role, each exists and its checkpoint loads
            from metagame.league.game_spec import game_spec

            game = store.get_meta("config", {}).get("game", {})
            spec = user_input(
                game_spec, game["name"], game.get("kwargs") or {}, game.get("roles", "auto")
            )
            if len(args.live) != len(spec.roles):
                raise UserError(
                    f"--live takes one player per role ({', '.join(spec.roles)}), "
                    f"got {len(args.live)}"
                )
            for pid in args.live:
                user_input(load_player, args.run_dir, user_input(store.player, pid))
        else:
            user_input(replay_file, store, args.match)
    watch = _viz("viewer", "watch")
    watch(args.run_dir, match_id=args.match, live=args.live)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    with _store(args.run_dir):
        pass
    _writable_dir(Path(args.run_dir) / "report", "report directory")
    report = _viz("plots", "report")
    for path in report(args.run_dir):
        print(path)
    return 0


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line naming the problem, exit status 2 (argparse adds the usage)."""

    def error(self, message: str):
        message = one_line(f"{message} (see {self.prog} --help)")
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="league", description="Self-play leagues on Ray/RLlib.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser(
        "start",
        help="start a league from a YAML config",
        description="Start a league from a YAML config (every key: configs/REFERENCE.md). "
        "It trains until its budget, writing players, matches and ratings to RUN_DIR as it "
        "goes; `league stop` ends it after the current iteration, `league resume` goes on.",
        epilog=START_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("config")
    s.add_argument("--run-dir", default=None, help="default: runs/<config name>")
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--address", default=None, help="an existing Ray cluster's address")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_start)

    s = sub.add_parser("status", help="standings, ratings and throughput (reads the store)")
    s.add_argument("run_dir")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("resume", help="resume a league from its last checkpoint")
    s.add_argument("run_dir")
    s.add_argument("--address", default=None)
    s.add_argument("--iterations", type=int, default=None, help="raise the iteration budget")
    s.add_argument(
        "--wall-time", type=float, default=None, help="raise the wall-time budget (seconds, total)"
    )
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_resume)

    s = sub.add_parser("stop", help="finish the current iteration, checkpoint and stop")
    s.add_argument("run_dir")
    s.add_argument("--wait", action="store_true")
    s.set_defaults(func=cmd_stop)

    s = sub.add_parser("solve", help="the population's mixture, written as a loadable policy")
    s.add_argument("run_dir")
    s.add_argument(
        "--solver",
        default="nash",
        choices=[*SOLVERS, RESTRICTED_GAME],
        help="restricted-game: the equilibrium of XDO's restricted game over the players' "
        "actions (two-player zero-sum OpenSpiel games whose tree can be walked)",
    )
    s.add_argument("--json", action="store_true")
    s.add_argument("--out", default=None, help="default: RUN_DIR/solve/<solver>")
    s.set_defaults(func=cmd_solve)

    s = sub.add_parser("watch", help="watch a recorded or live match in the viewer")
    s.add_argument("run_dir")
    group = s.add_mutually_exclusive_group()
    group.add_argument("--match", type=int, default=None)
    group.add_argument(
        "--live",
        nargs="+",
        metavar="PLAYER",
        default=None,
        help="new matches between these players, one per role of the game (in role order)",
    )
    group.add_argument("--list", action="store_true", help="list the matches with replays")
    s.set_defaults(func=cmd_watch)

    s = sub.add_parser("report", help="write the league's plots (PNG)")
    s.add_argument("run_dir")
    s.set_defaults(func=cmd_report)
    return p


def _pin_hash_seed(args: argparse.Namespace) -> None:
    """Re-runs this command once with ``PYTHONHASHSEED`` fixed.

    RLlib iterates sets of module ids while it builds and trains modules, so with Python's
    per-process string hashing two runs of the same seed would diverge; with the hash seed
    pinned (Ray's workers inherit it), the same config and seed give the same league bit for bit.
    """
    if args.command in ("start", "resume") and "PYTHONHASHSEED" not in os.environ:
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, "-m", "metagame.league.cli", *sys.argv[1:]])


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if args.command in ("start", "resume"):  # envs' kernels compile on a first run: say so
        announce_compilation()
    if argv is None:  # the console script, not a caller in this process
        _pin_hash_seed(args)
    try:
        return args.func(args)
    except UserError as err:
        message = one_line(str(err))
        print(f"league {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # the reader of our output went away (`league status | head`)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
        return 141
    except KeyboardInterrupt:
        print(f"league {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
