"""Draws a MAPF state: walls, goals (hollow squares) and agents (discs) in palette colours."""

from __future__ import annotations

import numpy as np
import pygame

from metagame.envs import rendering


def cell_size(shape: tuple[int, int], target: int = 640) -> int:
    """Pixels per cell so that the longer side is about ``target`` pixels (4 to 32)."""
    return int(np.clip(target // max(shape), 4, 32))


def draw(
    grid: np.ndarray, positions: np.ndarray, goals: np.ndarray, active: np.ndarray, cell: int = 0
) -> np.ndarray:
    """An ``(H*cell, W*cell, 3)`` uint8 frame; agent ``i`` has colour ``agent_colors(n)[i]``."""
    cell = cell or cell_size(grid.shape)
    h, w = grid.shape
    surf = rendering.surface(w * cell, h * cell)
    for r, c in np.argwhere(grid):
        surf.fill(rendering.WALL, pygame.Rect(c * cell, r * cell, cell, cell))
    colors = [tuple(int(x) for x in col) for col in rendering.agent_colors(len(positions))]
    border = max(1, cell // 6)
    for i in np.flatnonzero(active):
        r, c = goals[i]
        pygame.draw.rect(surf, colors[i], pygame.Rect(c * cell, r * cell, cell, cell), border)
    for i in np.flatnonzero(active):
        r, c = positions[i]
        center = (c * cell + cell // 2, r * cell + cell // 2)
        pygame.draw.circle(surf, colors[i], center, max(1, cell // 2 - border))
    return rendering.to_array(surf)
