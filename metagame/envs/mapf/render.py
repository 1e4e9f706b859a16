"""Draws a MAPF state: walls, goals (hollow squares) and agents (discs) in palette colours.

:class:`Renderer` paints a frame without a per-agent loop: a copy of the static frame (walls on
the background, made once), then every active agent's goal ring, then every agent's disc, each
layer as one fancy-indexed assignment of pixel offsets (the sprite's pixels relative to its
cell's corner) plus cell corners. The sprite masks are drawn once with pygame and the layers go
in pygame's order, so the frame is pixel-identical to :func:`draw_reference`, which draws the
same picture with one pygame call per wall, goal and agent.
"""

from __future__ import annotations

import numpy as np

from metagame.envs import rendering
from metagame.envs.rendering import pygame  # imported there without its banner


def cell_size(shape: tuple[int, int], target: int = 640) -> int:
    """Pixels per cell so that the longer side is about ``target`` pixels (4 to 32)."""
    return int(np.clip(target // max(shape), 4, 32))


def _border(cell: int) -> int:
    return max(1, cell // 6)


def _radius(cell: int) -> int:
    return max(1, cell // 2 - _border(cell))


def _sprites(cell: int) -> tuple[np.ndarray, np.ndarray]:
    """``(cell, cell)`` bool masks of the goal ring and the agent disc, drawn by pygame."""
    ring = rendering.surface(cell, cell, (0, 0, 0))
    pygame.draw.rect(ring, (255, 0, 0), pygame.Rect(0, 0, cell, cell), _border(cell))
    disc = rendering.surface(cell, cell, (0, 0, 0))
    pygame.draw.circle(disc, (255, 0, 0), (cell // 2, cell // 2), _radius(cell))
    return rendering.to_array(ring)[..., 0] > 0, rendering.to_array(disc)[..., 0] > 0


def _offsets(mask: np.ndarray, stride: int) -> np.ndarray:
    """Flat frame offsets of a sprite's pixels from its cell's first pixel."""
    rows, cols = np.nonzero(mask)
    return rows * stride + cols


class Renderer:
    """Frames of one map for ``num_agents`` agents; everything static is computed here once."""

    def __init__(self, grid: np.ndarray, num_agents: int, cell: int = 0):
        self.cell = cell = cell or cell_size(grid.shape)
        h, w = grid.shape
        palette = np.array([rendering.BACKGROUND, rendering.WALL], dtype=np.uint8)
        self._static = np.repeat(np.repeat(palette[grid.astype(np.intp)], cell, 0), cell, 1)
        stride = w * cell  # pixels per frame row
        self._corner = np.array([cell * stride, cell])  # (row, col) -> first pixel of the cell
        ring, disc = _sprites(cell)
        self._ring = _offsets(ring, stride)
        self._disc = _offsets(disc, stride)
        # One 3-byte item per colour and per pixel: a fancy assignment copies whole pixels.
        self._colors = rendering.agent_colors(num_agents).view("V3")

    def __call__(self, positions: np.ndarray, goals: np.ndarray, active: np.ndarray) -> np.ndarray:
        """An ``(H*cell, W*cell, 3)`` uint8 frame; agent ``i`` has colour ``agent_colors(n)[i]``.

        ``positions`` and ``goals`` are ``(n, 2)`` (row, col); only ``active`` agents are drawn.
        """
        frame = self._static.copy()
        pixels = frame.view("V3").reshape(-1)
        colors = self._colors[active]
        pixels[(goals[active] @ self._corner)[:, None] + self._ring] = colors
        pixels[(positions[active] @ self._corner)[:, None] + self._disc] = colors
        return frame


def draw_reference(
    grid: np.ndarray, positions: np.ndarray, goals: np.ndarray, active: np.ndarray, cell: int = 0
) -> np.ndarray:
    """The same frame drawn with pygame, one call per wall, goal and agent (tests compare)."""
    cell = cell or cell_size(grid.shape)
    h, w = grid.shape
    surf = rendering.surface(w * cell, h * cell)
    for r, c in np.argwhere(grid):
        surf.fill(rendering.WALL, pygame.Rect(c * cell, r * cell, cell, cell))
    colors = [tuple(int(x) for x in col) for col in rendering.agent_colors(len(positions))]
    for i in np.flatnonzero(active):
        r, c = goals[i]
        pygame.draw.rect(
            surf, colors[i], pygame.Rect(c * cell, r * cell, cell, cell), _border(cell)
        )
    for i in np.flatnonzero(active):
        r, c = positions[i]
        center = (c * cell + cell // 2, r * cell + cell // 2)
        pygame.draw.circle(surf, colors[i], center, _radius(cell))
    return rendering.to_array(surf)


def legend(width: int, env) -> np.ndarray:
    """The strip under the map: what discs, rings and dark cells are; step and progress."""
    progress = env.metrics()
    shown = ", ".join(f"{k} {v:.3g}" for k, v in progress.items() if np.isscalar(v))
    items = [
        ("disc", rendering.agent_colors(1)[0], "agent (one colour each)"),
        ("ring", rendering.agent_colors(1)[0], "its goal"),
        ("square", rendering.WALL, "obstacle"),
    ]
    note = f"step {env.timestep}/{env.max_steps}   {int(env.active.sum())} on the map   {shown}"
    return rendering.legend_strip(width, items, note)
