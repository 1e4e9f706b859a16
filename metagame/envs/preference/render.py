"""Frames for the preference family: the payoff heatmap of P - 1/2 with the last picks, and text
panels for trajectory and token duels. Drawn with the shared toolkit in metagame.envs.rendering."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from metagame.envs import rendering

CELL, MARGIN = 40, 64


def heat_color(value: float) -> tuple[int, int, int]:
    """Diverging colour for a payoff in [-1/2, 1/2]: blue (player_0 loses), white, orange (wins)."""
    t = float(np.clip(2.0 * value, -1.0, 1.0))
    hi = np.array((213, 94, 0)) if t > 0 else np.array((0, 114, 178))
    return tuple(int(c) for c in np.round(255 + abs(t) * (hi - 255)))


def preference_frame(
    P: np.ndarray,
    candidates: Sequence[str],
    last: tuple[int, int] | None = None,
    counts: np.ndarray | None = None,
) -> np.ndarray:
    """Heatmap of P - 1/2 (rows: player_0's pick); the last joint pick is outlined, row and
    column marked in the players' colours; cell labels give the number of plays."""
    from metagame.envs.rendering import pygame

    n = P.shape[0]
    cell = max(12, min(CELL, 480 // n))
    size = MARGIN + n * cell + 8
    surf = rendering.surface(size, size + 24)
    colors = rendering.agent_colors(2)
    font = rendering.font(max(10, min(18, cell // 2)))
    for i in range(n):
        for j in range(n):
            rect = pygame.Rect(MARGIN + j * cell, MARGIN + i * cell, cell, cell)
            pygame.draw.rect(surf, heat_color(P[i, j] - 0.5), rect)
            pygame.draw.rect(surf, rendering.GRID_LINE, rect, 1)
            if counts is not None and counts[i, j] and cell >= 20:
                label = font.render(str(int(counts[i, j])), True, rendering.TEXT)
                surf.blit(label, label.get_rect(center=rect.center))
    for k in range(n):
        name = font.render(str(candidates[k])[:6], True, rendering.TEXT)
        surf.blit(name, (4, MARGIN + k * cell + cell // 3))
        surf.blit(name, (MARGIN + k * cell + 2, MARGIN - 18))
    if last is not None:
        a, b = last
        pygame.draw.rect(surf, colors[0], (MARGIN - 8, MARGIN + a * cell, 6, cell))
        pygame.draw.rect(surf, colors[1], (MARGIN + b * cell, MARGIN - 30, cell, 6))
        pygame.draw.rect(
            surf, rendering.TEXT, (MARGIN + b * cell, MARGIN + a * cell, cell, cell), 3
        )
        caption = f"last: {candidates[a]} vs {candidates[b]}  P = {P[a, b]:.2f}"
    else:
        caption = "no picks yet"
    rendering.draw_text(surf, [caption], pos=(8, size - 4), size=18)
    legend = [
        ("square", colors[0], "player_0 picks the row"),
        ("square", colors[1], "player_1 the column"),
        ("square", heat_color(0.5), "row preferred"),
        ("square", heat_color(-0.5), "column preferred"),
    ]
    frame = rendering.to_array(surf)
    return np.vstack([frame, rendering.legend_strip(frame.shape[1], legend)])


def text_panel(title: str, rows: Sequence[str], width: int = 560) -> np.ndarray:
    """A title line, then one line per row, colour-coded per player (for duels and episodes)."""
    from metagame.envs.rendering import pygame

    f = rendering.font(18)
    height = 16 + f.get_linesize() * (len(rows) + 1)
    surf = rendering.surface(width, max(height, 64))
    y = rendering.draw_text(surf, [title], pos=(8, 8), size=18)
    colors = rendering.agent_colors(max(1, len(rows)))
    for k, row in enumerate(rows):
        pygame.draw.rect(surf, colors[k], (8, y + 3, 10, 10))
        y = rendering.draw_text(surf, [row], pos=(24, y), size=18)
    return rendering.to_array(surf)
