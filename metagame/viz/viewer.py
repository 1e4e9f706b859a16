"""The pygame viewer: watch a match, replayed or live, with controls and a side panel.

The picture is the environment's own ``render()`` in ``rgb_array`` mode (each family draws
itself, see ``metagame.envs.*.render``); the viewer adds playback control and a side panel with
the step, each agent's return so far, the environment's metrics (its latest infos) and, for
agents with a few discrete actions, their empirical mixed strategies, drawn as bars and, with
three actions, as a trajectory on the simplex.

Controls: space pause/resume, right arrow one step (while paused), ``+``/``-`` double or halve
the speed, ``r`` restart, ``s`` screenshot (PNG), ``q`` or Esc quit.

``python -m metagame.viz REPLAY`` plays a replay file; ``league watch RUN_DIR`` plays a league
match (see :func:`watch`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from metagame.envs import rendering
from metagame.envs.replay import Replay, ReplayStep, simulate

PANEL_WIDTH = 320
MAX_PICTURE = (960, 720)
MAX_STRATEGY_ACTIONS = 12
MAX_STRATEGY_AGENTS = 4
SIMPLEX_SIZE = 150


class MatchSource:
    """Replays, one after another, re-simulated step by step with ``rgb_array`` frames.

    ``episodes`` yields :class:`Replay` objects; a live match is a generator that plays a new
    episode each time it is asked (see :func:`live_episodes`).
    """

    def __init__(self, episodes: Iterator[Replay] | Sequence[Replay]):
        self._episodes = iter(episodes)
        self._history: list[Replay] = []
        self.strategies = EmpiricalStrategies()
        self._next_episode()

    def _next_episode(self) -> bool:
        replay = next(self._episodes, None)
        if replay is None:
            return False
        self._history.append(replay)
        self.replay = replay
        self.env = replay.make_env(render_mode="rgb_array")
        self._steps = simulate(replay, self.env)
        self.current: ReplayStep = next(self._steps)
        return True

    @property
    def episode(self) -> int:
        return len(self._history)

    def advance(self) -> bool:
        """One step; at an episode's end, the next episode. False when nothing is left."""
        nxt = next(self._steps, None)
        if nxt is None:
            return self._next_episode()
        self.strategies.observe(self.replay, nxt.step - 1, self.env)
        self.current = nxt
        return True

    def restart(self) -> None:
        """Back to the first step of the current episode."""
        self.strategies.reset()
        self._steps = simulate(self.replay, self.env)
        self.current = next(self._steps)

    def frame(self) -> np.ndarray:
        frame = self.env.render()
        if frame is None or not isinstance(frame, np.ndarray):
            return rendering.text_frame(f"{self.replay.env}: no rgb_array render")
        return frame

    def panel_lines(self) -> list[str]:
        replay, cur = self.replay, self.current
        lines = [
            replay.env,
            f"episode {self.episode}   step {cur.step}/{replay.length}",
            f"seed {replay.seed}",
            "",
            "returns so far:",
        ]
        shown = sorted(cur.returns.items(), key=lambda kv: -abs(kv[1]))[:12]
        for agent, value in shown:
            who = replay.policies.get(agent)
            lines.append(f"  {agent}{f' ({who})' if who else ''}: {value:+.3f}")
        if len(cur.returns) > len(shown):
            total = sum(cur.returns.values())
            lines.append(f"  ... {len(cur.returns)} agents, total {total:+.2f}")
        metrics = _metrics(cur.infos)
        if metrics:
            lines += ["", "metrics:"] + [f"  {k}: {_fmt(v)}" for k, v in metrics[:10]]
        return lines


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    return str(value)


def _metrics(infos: dict[str, Any]) -> list[tuple[str, Any]]:
    """Scalar entries of the agents' latest infos (shared ones once; nested dicts flattened)."""
    seen: dict[str, Any] = {}

    def collect(info: dict, prefix: str) -> None:
        for key, value in info.items():
            if isinstance(value, dict):
                collect(value, f"{prefix}{key}.")
            elif isinstance(value, int | float | np.number | str | bool):
                seen.setdefault(prefix + str(key), value)

    for info in infos.values():
        if isinstance(info, dict):
            collect(info, "")
    return sorted(seen.items())


@dataclass
class EmpiricalStrategies:
    """Each agent's action frequencies so far and their trajectory, for small discrete actions."""

    counts: dict[str, np.ndarray] = field(default_factory=dict)
    trajectory: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def observe(self, replay: Replay, index: int, env) -> None:
        entry = replay.actions[index]
        pairs = entry.items() if replay.kind == "parallel" else [tuple(entry)]
        if len(env.possible_agents) > MAX_STRATEGY_AGENTS:
            return
        for agent, action in pairs:
            if action is None or not isinstance(action, int | np.integer):
                continue
            n = getattr(env.action_space(agent), "n", None)
            if n is None or n > MAX_STRATEGY_ACTIONS:
                continue
            counts = self.counts.setdefault(agent, np.zeros(n))
            counts[int(action)] += 1
            self.trajectory.setdefault(agent, []).append(counts / counts.sum())

    def reset(self) -> None:
        self.counts.clear()
        self.trajectory.clear()

    def mixtures(self) -> dict[str, np.ndarray]:
        return {a: c / c.sum() for a, c in self.counts.items() if c.sum() > 0}


def simplex_point(p: np.ndarray, size: int) -> tuple[float, float]:
    """A point of the 2-simplex in an equilateral triangle of side ``size`` (pixels)."""
    corners = np.array([[0.0, size * 0.866], [size, size * 0.866], [size / 2, 0.0]])
    x, y = p @ corners
    return float(x), float(y)


class Viewer:
    """The window: a picture on the left, the side panel on the right, playback controls."""

    def __init__(
        self,
        source: MatchSource,
        speed: float = 4.0,
        fps: int = 60,
        screenshot_dir: str | Path = ".",
    ):
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.source = source
        self.speed = float(speed)  # environment steps per second
        self.fps = fps
        self.paused = False
        self.finished = False
        self.screenshot_dir = Path(screenshot_dir)
        self.screenshots: list[Path] = []
        self._budget = 0.0
        self._screen = None
        self._canvas = None
        self._canvas_key = None

    # -- controls ------------------------------------------------------------------------
    def handle_key(self, key: int) -> bool:
        """Applies one key press; returns False when the viewer should close."""
        pg = rendering.pygame
        if key in (pg.K_q, pg.K_ESCAPE):
            return False
        if key == pg.K_SPACE:
            self.paused = not self.paused
        elif key == pg.K_RIGHT and self.paused:
            self._advance()
        elif key in (pg.K_PLUS, pg.K_EQUALS, pg.K_KP_PLUS):
            self.speed = min(self.speed * 2, 1024.0)
        elif key in (pg.K_MINUS, pg.K_KP_MINUS):
            self.speed = max(self.speed / 2, 0.125)
        elif key == pg.K_r:
            self.source.restart()
            self.finished = False
        elif key == pg.K_s:
            self.screenshot()
        return True

    def _advance(self) -> None:
        if not self.finished and not self.source.advance():
            self.finished = True

    def screenshot(self) -> Path:
        self.screenshot_dir.mkdir(parents=True, exist_ok=True)
        cur = self.source.current
        path = self.screenshot_dir / f"metagame-ep{self.source.episode}-step{cur.step:05d}.png"
        rendering.pygame.image.save(self.compose(), str(path))
        self.screenshots.append(path)
        return path

    # -- drawing -------------------------------------------------------------------------
    def compose(self):
        """The whole window as a surface: picture and side panel (redrawn when they change)."""
        key = (
            self.source.episode,
            self.source.current.step,
            self.paused,
            self.finished,
            self.speed,
        )
        if self._canvas is None or key != self._canvas_key:
            self._canvas, self._canvas_key = self._draw(), key
        return self._canvas

    def _draw(self):
        pg = rendering.pygame
        picture = rendering.from_array(self.source.frame())
        w, h = picture.get_size()
        scale = min(MAX_PICTURE[0] / w, MAX_PICTURE[1] / h, max(1.0, 480 / max(w, h)))
        if scale != 1.0:
            picture = pg.transform.scale(picture, (max(1, int(w * scale)), max(1, int(h * scale))))
        w, h = picture.get_size()
        canvas = rendering.surface(w + PANEL_WIDTH, max(h, 560))
        canvas.blit(picture, (0, 0))
        self._draw_panel(canvas, w)
        return canvas

    def _draw_panel(self, canvas, x0: int) -> None:
        pg = rendering.pygame
        pg.draw.rect(canvas, (236, 238, 243), (x0, 0, PANEL_WIDTH, canvas.get_height()))
        state = "finished" if self.finished else ("paused" if self.paused else "playing")
        lines = self.source.panel_lines() + ["", f"{state}, {self.speed:g} steps/s"]
        y = rendering.draw_text(canvas, lines, pos=(x0 + 10, 10), size=18)
        self._draw_strategies(canvas, x0 + 10, y + 8)

    def _draw_strategies(self, canvas, x: int, y: int) -> None:
        pg = rendering.pygame
        mixtures = self.source.strategies.mixtures()
        if not mixtures:
            return
        agents = sorted(mixtures)[:4]
        colors = rendering.agent_colors(len(agents))
        y = rendering.draw_text(canvas, ["empirical strategies:"], pos=(x, y), size=18)
        bar_w = PANEL_WIDTH - 40
        for color, agent in zip(colors, agents):
            p = mixtures[agent]
            width = bar_w / len(p)
            for k, pk in enumerate(p):
                height = int(40 * pk)
                pg.draw.rect(
                    canvas,
                    tuple(int(c) for c in color),
                    (x + k * width, y + 40 - height, max(1, width - 2), height),
                )
            y += 46
        if all(len(mixtures[a]) == 3 for a in agents):
            self._draw_simplex(canvas, x + 60, y + 6, agents, colors)

    def _draw_simplex(self, canvas, x: int, y: int, agents, colors) -> None:
        pg = rendering.pygame
        corners = [simplex_point(np.eye(3)[k], SIMPLEX_SIZE) for k in range(3)]
        pg.draw.polygon(canvas, (120, 120, 130), [(x + cx, y + cy) for cx, cy in corners], 1)
        for color, agent in zip(colors, agents):
            path = [
                simplex_point(p, SIMPLEX_SIZE) for p in self.source.strategies.trajectory[agent]
            ]
            points = [(x + px, y + py) for px, py in path[-500:]]
            rgb = tuple(int(c) for c in color)
            if len(points) > 1:
                pg.draw.lines(canvas, rgb, False, points, 2)
            pg.draw.circle(canvas, rgb, points[-1], 4)

    # -- loop ----------------------------------------------------------------------------
    def run(self, max_frames: int | None = None, events: Sequence[int] = ()) -> Viewer:
        """Runs until quit (or ``max_frames``). ``events`` are key presses to replay first."""
        pg = rendering.pygame
        pg.display.init()
        clock = pg.time.Clock()
        for key in events:
            pg.event.post(pg.event.Event(pg.KEYDOWN, key=key))
        frames = 0
        running = True
        while running:
            for event in pg.event.get():
                if event.type == pg.QUIT:
                    running = False
                elif event.type == pg.KEYDOWN:
                    running = running and self.handle_key(event.key)
            if not running:
                break
            if not self.paused:
                self._budget += self.speed / max(self.fps, 1)
                while self._budget >= 1.0 and not self.finished:
                    self._budget -= 1.0
                    self._advance()
            canvas = self.compose()
            if self._screen is None or self._screen.get_size() != canvas.get_size():
                self._screen = pg.display.set_mode(canvas.get_size())
                pg.display.set_caption(f"metagame viewer: {self.source.replay.env}")
            self._screen.blit(canvas, (0, 0))
            pg.display.flip()
            clock.tick(self.fps)
            frames += 1
            if max_frames is not None and frames >= max_frames:
                break
        pg.display.quit()
        self._screen = None
        return self


def live_episodes(
    env_name: str,
    policies: Sequence[Any],
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    episodes: int | None = None,
) -> Iterator[Replay]:
    """Plays episodes with ``policies`` (through ``metagame.agents.arena``) as they are watched."""
    from metagame.agents import play

    k = 0
    while episodes is None or k < episodes:
        result = play(
            env_name, list(policies), episodes=1, seed=seed + k, env_kwargs=env_kwargs, record=True
        )
        yield result.replays[0]
        k += 1


def view_replay(path: str | Path, **viewer_kwargs: Any) -> Viewer:
    """Opens the viewer on a replay file (``python -m metagame.viz REPLAY``)."""
    max_frames = viewer_kwargs.pop("max_frames", None)
    events = viewer_kwargs.pop("events", ())
    replay = Replay.load(path)
    return Viewer(MatchSource([replay]), **viewer_kwargs).run(max_frames, events)


def watch(
    run_dir: str | Path,
    match_id: int | None = None,
    live: Sequence[str] | None = None,
    **viewer_kwargs: Any,
) -> Viewer:
    """Watches a league run: a recorded match (newest with a replay by default) or, with
    ``live=(player_a, player_b)``, new matches between two of its players."""
    from metagame.league.evaluation import replay_file
    from metagame.league.population import load_player
    from metagame.league.store import Store

    max_frames = viewer_kwargs.pop("max_frames", None)
    events = viewer_kwargs.pop("events", ())
    run_dir = Path(run_dir)
    with Store(run_dir, readonly=True) as store:
        if live is not None:
            if len(live) != 2:
                raise ValueError(f"live takes two player ids, got {list(live)}")
            game = store.get_meta("config", {}).get("game", {})
            policies = [load_player(run_dir, store.player(pid)) for pid in live]
            source = MatchSource(
                live_episodes(game["name"], policies, env_kwargs=game.get("kwargs") or {})
            )
        else:
            source = MatchSource([Replay.load(replay_file(store, match_id))])
    return Viewer(source, **viewer_kwargs).run(max_frames, events)
