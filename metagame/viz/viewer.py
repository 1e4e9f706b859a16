"""The pygame viewer: watch a match, replayed or live, with controls and a side panel.

The picture is the environment's own ``render()`` in ``rgb_array`` mode (each family draws
itself, see ``metagame.envs.*.render``); the viewer adds playback control and a side panel with
the step, each agent's return so far, the environment's metrics (its latest infos) and, for
agents with a few discrete actions, their empirical mixed strategies, drawn as bars and, with
three actions, as a trajectory on the simplex.

Controls: space pause/resume, right arrow one step (while paused), ``+``/``-`` double or halve
the speed, ``z``/``x`` zoom the picture in/out (up to 16x), ``i j k l`` pan the zoomed view,
``0`` the whole picture again, ``r`` restart, ``s`` screenshot (PNG), ``q`` or Esc quit.

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
KEYS = [
    "space pause   right arrow step   +/- speed",
    "z/x zoom in/out   i j k l pan   0 whole picture",
    "r restart   s screenshot   q quit",
]


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
    """Scalar entries of the agents' latest infos (nested dicts flattened): an entry all agents
    share once, one that differs by agent once per agent, named ``agent: key``."""
    per_agent: dict[str, dict[str, Any]] = {}

    def collect(out: dict[str, Any], info: dict, prefix: str) -> None:
        for key, value in info.items():
            if isinstance(value, dict):
                collect(out, value, f"{prefix}{key}.")
            elif isinstance(value, int | float | np.number | str | bool):
                out[prefix + str(key)] = value

    for agent, info in infos.items():
        if isinstance(info, dict):
            collect(per_agent.setdefault(agent, {}), info, "")
    keys = sorted({k for entries in per_agent.values() for k in entries})
    shown: list[tuple[str, Any]] = []
    for key in keys:
        values = {a: entries[key] for a, entries in per_agent.items() if key in entries}
        if len(set(map(str, values.values()))) == 1 and len(values) == len(per_agent):
            shown.append((key, next(iter(values.values()))))
        else:
            shown += [(f"{agent}: {key}", value) for agent, value in values.items()]
    return shown


@dataclass
class EmpiricalStrategies:
    """Each agent's action frequencies so far and their trajectory, for small discrete actions."""

    counts: dict[str, np.ndarray] = field(default_factory=dict)
    trajectory: dict[str, list[np.ndarray]] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)
    colors: dict[str, tuple[int, int, int]] = field(default_factory=dict)

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
            if agent not in self.labels:
                self.labels[agent] = action_labels(env, agent, n)
                self.colors[agent] = agent_color(env, agent)
            counts = self.counts.setdefault(agent, np.zeros(n))
            counts[int(action)] += 1
            self.trajectory.setdefault(agent, []).append(counts / counts.sum())

    def reset(self) -> None:
        self.counts.clear()
        self.trajectory.clear()

    def mixtures(self) -> dict[str, np.ndarray]:
        return {a: c / c.sum() for a, c in self.counts.items() if c.sum() > 0}


def action_labels(env, agent: str, n: int) -> list[str]:
    """Names of an agent's actions, where the game has them (a matrix game's catalog, an
    OpenSpiel game's ``action_to_string``); otherwise the action indices."""
    index = env.possible_agents.index(agent)
    named = (getattr(env, "row_actions", None), getattr(env, "col_actions", None))
    if index < 2 and named[index] is not None and len(named[index]) == n:
        return list(named[index])
    state = getattr(env, "game_state", None)
    if state is not None:
        try:
            return [state.action_to_string(index, a) for a in range(n)]
        except Exception:  # noqa: BLE001 -- pyspiel raises its own error types for some games
            pass
    return [str(a) for a in range(n)]


def agent_color(env, agent: str) -> tuple[int, int, int]:
    """The agent's colour in its environment's drawings (by its index among the agents)."""
    agents = env.possible_agents
    return tuple(int(c) for c in rendering.agent_colors(len(agents))[agents.index(agent)])


def simplex_point(p: np.ndarray, size: int) -> tuple[float, float]:
    """A point of the 2-simplex in an equilateral triangle of side ``size`` (pixels)."""
    corners = np.array([[0.0, size * 0.866], [size, size * 0.866], [size / 2, 0.0]])
    x, y = p @ corners
    return float(x), float(y)


_pg = rendering.pygame
PAN = {_pg.K_i: (0.0, -1.0), _pg.K_k: (0.0, 1.0), _pg.K_j: (-1.0, 0.0), _pg.K_l: (1.0, 0.0)}


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
        self.zoom = 1.0
        self.pan = np.zeros(2)  # centre of the view, as a fraction of the picture from its centre
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
        elif key in (pg.K_z, pg.K_x):
            self.zoom = float(np.clip(self.zoom * (2.0 if key == pg.K_z else 0.5), 1.0, 16.0))
            self._clamp_pan()
        elif key in PAN:
            self.pan += np.array(PAN[key]) * 0.25 / self.zoom
            self._clamp_pan()
        elif key == pg.K_0:
            self.zoom, self.pan = 1.0, np.zeros(2)
        return True

    def _clamp_pan(self) -> None:
        limit = 0.5 - 0.5 / self.zoom  # the view stays inside the picture
        self.pan = np.clip(self.pan, -limit, limit)

    def _zoomed(self, picture):
        """The part of the picture in view, scaled back to the picture's size."""
        if self.zoom == 1.0:
            return picture
        pg = rendering.pygame
        w, h = picture.get_size()
        vw, vh = max(1, round(w / self.zoom)), max(1, round(h / self.zoom))
        cx, cy = (0.5 + self.pan[0]) * w, (0.5 + self.pan[1]) * h
        x = int(np.clip(round(cx - vw / 2), 0, w - vw))
        y = int(np.clip(round(cy - vh / 2), 0, h - vh))
        return pg.transform.scale(picture.subsurface((x, y, vw, vh)), (w, h))

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
            self.zoom,
            tuple(self.pan),
        )
        if self._canvas is None or key != self._canvas_key:
            self._canvas, self._canvas_key = self._draw(), key
        return self._canvas

    def _draw(self):
        pg = rendering.pygame
        picture = self._zoomed(rendering.from_array(self.source.frame()))
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
        bottom = canvas.get_height() - 8 - rendering.font(16).get_linesize() * len(KEYS)
        rendering.draw_text(canvas, KEYS, pos=(x0 + 10, bottom), size=16)

    def _draw_strategies(self, canvas, x: int, y: int) -> None:
        """One row of bars per agent: the frequency of each action, labelled with its name."""
        pg = rendering.pygame
        strategies = self.source.strategies
        mixtures = strategies.mixtures()
        if not mixtures:
            return
        agents = sorted(mixtures)[:MAX_STRATEGY_AGENTS]
        y = rendering.draw_text(canvas, ["empirical strategies:"], pos=(x, y), size=18)
        bar_w = PANEL_WIDTH - 40
        small = rendering.font(14)
        for agent in agents:
            p, color = mixtures[agent], strategies.colors[agent]
            y = rendering.draw_text(canvas, [agent], pos=(x, y), size=16, color=color)
            width = bar_w / len(p)
            for k, pk in enumerate(p):
                height = int(36 * pk)
                pg.draw.rect(canvas, color, (x + k * width, y + 36 - height, width - 2, height))
                label = small.render(
                    strategies.labels[agent][k][: max(1, int(width // 7))], True, rendering.TEXT
                )
                canvas.blit(label, (x + k * width, y + 38))
            y += 54
        if all(len(mixtures[a]) == 3 for a in agents):
            self._draw_simplex(canvas, x + 60, y + 14, agents)

    def _draw_simplex(self, canvas, x: int, y: int, agents) -> None:
        pg = rendering.pygame
        strategies = self.source.strategies
        corners = [simplex_point(np.eye(3)[k], SIMPLEX_SIZE) for k in range(3)]
        pg.draw.polygon(canvas, (120, 120, 130), [(x + cx, y + cy) for cx, cy in corners], 1)
        names = strategies.labels[agents[0]]
        for (cx, cy), name, dy in zip(corners, names, (4, 4, -16), strict=True):
            img = rendering.font(14).render(name, True, rendering.TEXT)
            canvas.blit(img, (x + cx - img.get_width() / 2, y + cy + dy))
        for agent in agents:
            path = [simplex_point(p, SIMPLEX_SIZE) for p in strategies.trajectory[agent]]
            points = [(x + px, y + py) for px, py in path[-500:]]
            color = strategies.colors[agent]
            if len(points) > 1:
                pg.draw.lines(canvas, color, False, points, 2)
            pg.draw.circle(canvas, color, points[-1], 4)

    # -- loop ----------------------------------------------------------------------------
    def run(self, max_frames: int | None = None, events: Sequence[int] = ()) -> Viewer:
        """Runs until quit (or ``max_frames``). ``events`` are key presses to replay first.

        Headless (SDL's dummy video driver: no one can see or close the window) it plays the
        match through without waiting between frames and returns at its end.
        """
        pg = rendering.pygame
        headless = rendering.init_display() == "dummy"
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
            if headless and (self.finished or self.paused):
                break
            if not self.paused:
                self._budget += 1.0 if headless else self.speed / max(self.fps, 1)
                while self._budget >= 1.0 and not self.finished:
                    self._budget -= 1.0
                    self._advance()
            canvas = self.compose()
            if self._screen is None or self._screen.get_size() != canvas.get_size():
                self._screen = pg.display.set_mode(canvas.get_size())
                pg.display.set_caption(f"metagame viewer: {self.source.replay.env}")
            self._screen.blit(canvas, (0, 0))
            pg.display.flip()
            if not headless:
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
    ``live`` (one player id per role of the game, in role order), new matches between them:
    every agent of a role is played by that role's player."""
    from metagame.league.evaluation import replay_file
    from metagame.league.game_spec import game_spec
    from metagame.league.population import load_player
    from metagame.league.store import Store

    max_frames = viewer_kwargs.pop("max_frames", None)
    events = viewer_kwargs.pop("events", ())
    run_dir = Path(run_dir)
    with Store(run_dir, readonly=True) as store:
        if live is not None:
            game = store.get_meta("config", {}).get("game", {})
            kwargs = game.get("kwargs") or {}
            spec = game_spec(game["name"], kwargs, game.get("roles", "auto"))
            if len(live) != len(spec.roles):
                raise ValueError(
                    f"live takes one player per role ({', '.join(spec.roles)}), got {list(live)}"
                )
            member = {
                role: load_player(run_dir, store.player(pid))
                for role, pid in zip(spec.roles, live, strict=True)
            }
            policies = [member[spec.role_of(agent)] for agent in spec.agents]
            source = MatchSource(live_episodes(game["name"], policies, env_kwargs=kwargs))
        else:
            source = MatchSource([Replay.load(replay_file(store, match_id))])
    return Viewer(source, **viewer_kwargs).run(max_frames, events)
