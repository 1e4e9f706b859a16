"""Viewer frame rate with 1,000 MAPF agents on a 128x128 map (target: 60 frames per second).

One run records a random-action MAPF match, then plays it in the viewer (headless, SDL dummy
video driver) with the frame cap off, and reports, per frame: the env step of the re-simulation,
the env's own ``rgb_array`` render, the viewer's composition (scaling, side panel, strategies)
and the display flip. The anchor is the 60 fps target itself: the ratio is achieved fps / 60.

    python benchmarks/viewer.py [--agents 1000] [--size 128] [--frames 300]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np  # noqa: E402

from metagame.envs import Replay, make  # noqa: E402
from metagame.envs.mapf.maps import random_map  # noqa: E402
from metagame.envs.rendering import pygame  # noqa: E402
from metagame.viz.viewer import MatchSource, Viewer  # noqa: E402

TARGET_FPS = 60.0


def record(num_agents: int, size: int, steps: int, seed: int = 0) -> Replay:
    kwargs = {
        "map": random_map(size, size, 0.1, seed=seed),
        "num_agents": num_agents,
        "on_target": "restart",
        "max_steps": steps,
    }
    env = make("mapf", **kwargs)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    replay = Replay(env="mapf", env_kwargs=kwargs, seed=seed, kind="parallel")
    while env.agents:
        actions = {a: int(rng.choice(np.flatnonzero(obs[a]["action_mask"]))) for a in env.agents}
        replay.actions.append(actions)
        obs, *_ = env.step(actions)
    return replay


def run(viewer: Viewer, frames: int, step_every: int) -> tuple[float, dict[str, float]]:
    """Runs the viewer's frame loop by hand (no frame cap), stepping every ``step_every`` frames.

    Returns the frames per second and the milliseconds per frame spent in each part.
    """
    source = viewer.source
    parts = {"env step": 0.0, "draw (render+panel)": 0.0, "flip": 0.0}
    screen = pygame.display.set_mode(viewer.compose().get_size())
    start = time.perf_counter()
    for frame in range(frames):
        t0 = time.perf_counter()
        if frame % step_every == 0:
            source.advance()
        t1 = time.perf_counter()
        canvas = viewer.compose()
        t2 = time.perf_counter()
        screen.blit(canvas, (0, 0))
        pygame.display.flip()
        t3 = time.perf_counter()
        parts["env step"] += t1 - t0
        parts["draw (render+panel)"] += t2 - t1
        parts["flip"] += t3 - t2
    total = time.perf_counter() - start
    return frames / total, {k: 1000 * v / frames for k, v in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--frames", type=int, default=240)
    args = parser.parse_args()

    replay = record(args.agents, args.size, steps=args.frames + 1)
    pygame.display.init()
    print(
        f"viewer: {args.agents} MAPF agents on {args.size}x{args.size}, {args.frames} frames "
        f"per mode, headless (SDL dummy driver)"
    )
    print(f"{'mode':<34} {'fps':>7} {'vs 60':>7}   ms/frame by part")
    # 8 steps/s at 60 fps is MAPF's render_fps; stepping every frame is the viewer at full speed.
    for label, every in [("playing at 7.5 steps/s", 8), ("one env step every frame", 1)]:
        viewer = Viewer(MatchSource([replay]))
        fps, parts = run(viewer, args.frames, every)
        detail = ", ".join(f"{k} {v:.2f}" for k, v in parts.items())
        print(f"{label:<34} {fps:>7.1f} {fps / TARGET_FPS:>6.2f}x   {detail}")
    pygame.display.quit()


if __name__ == "__main__":
    main()
