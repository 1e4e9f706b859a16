"""Drawing of the Markov games: the soccer pitch, a pursuit-evasion graph, a payoff heatmap.

Each function returns an ``(H, W, 3)`` uint8 frame drawn with ``metagame.envs.rendering``, with
a legend strip under the picture (whose colour is which player, what the goals are); the layout
helpers (``soccer_cell_center``, ``graph_positions``, ``matrix_cell_rect``) say where things
land in the picture so tests and the viewer can find them.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from metagame.envs.rendering import (
    GRID_LINE,
    TEXT,
    agent_colors,
    draw_text,
    legend_strip,
    pygame,
    surface,
    to_array,
)

CELL = 64
HEADER = 28
BALL = (255, 255, 255)


def _pale(color, amount: float = 0.75) -> tuple[int, int, int]:
    return tuple(int(c + (255 - c) * amount) for c in color)


def soccer_cell_center(r: int, c: int) -> tuple[int, int]:
    """Pixel (x, y) of the centre of pitch square (r, c); goals are columns -1 and 5."""
    return (c + 1) * CELL + CELL // 2, HEADER + r * CELL + CELL // 2


def soccer_ball_center(r: int, c: int) -> tuple[int, int]:
    x, y = soccer_cell_center(r, c)
    return x + CELL // 3, y + CELL // 3


def draw_soccer(a, b, holder, scorer: int | None = None, rows: int = 4, cols: int = 5):
    """The pitch with A (player_0) at square ``a``, B at ``b`` and the ball with ``holder``."""
    colors = agent_colors(2)
    surf = surface((cols + 2) * CELL, HEADER + rows * CELL)
    for r in range(rows):
        for c in range(-1, cols + 1):
            x, y = soccer_cell_center(r, c)
            rect = pygame.Rect(x - CELL // 2, y - CELL // 2, CELL, CELL)
            if 0 <= c < cols:
                pygame.draw.rect(surf, (222, 240, 222), rect)
                pygame.draw.rect(surf, GRID_LINE, rect, 1)
            elif r in (1, 2):  # the left goal is A's target, the right one B's
                pygame.draw.rect(surf, _pale(colors[0 if c < 0 else 1]), rect)
    legend = [
        ("disc", colors[0], "player_0"),
        ("square", _pale(colors[0]), "its goal to score in"),
        ("disc", colors[1], "player_1"),
        ("square", _pale(colors[1]), "its goal"),
        ("circle", BALL, "ball"),
    ]
    if scorer is not None:
        draw_text(surf, [f"player_{scorer} scored"], pos=(8, 6))
        return _with_legend(surf, legend)
    for color, (r, c) in zip(colors, (a, b)):
        pygame.draw.circle(
            surf, tuple(int(v) for v in color), soccer_cell_center(r, c), int(CELL * 0.35)
        )
    ball = soccer_ball_center(*(a if holder == 0 else b))
    pygame.draw.circle(surf, BALL, ball, CELL // 7)
    pygame.draw.circle(surf, TEXT, ball, CELL // 7, 2)
    draw_text(surf, [f"ball: player_{holder}"], pos=(8, 6))
    return _with_legend(surf, legend)


def _with_legend(surf, items, note: str = "") -> np.ndarray:
    frame = to_array(surf)
    return np.vstack([frame, legend_strip(frame.shape[1], items, note)])


GRAPH_SIZE = 480
GRAPH_MARGIN = 40


def graph_positions(graph: nx.Graph, nodes: list) -> np.ndarray:
    """Pixel positions ``(n, 2)`` of the nodes: grid coordinates for grid graphs, otherwise a
    deterministic Kamada-Kawai layout."""
    if all(isinstance(v, tuple) and len(v) == 2 for v in nodes):
        xy = np.array([(v[1], v[0]) for v in nodes], dtype=np.float64)
    else:
        layout = (
            nx.kamada_kawai_layout(graph)
            if len(nodes) > 2
            else {v: (i, 0.0) for i, v in enumerate(nodes)}
        )
        xy = np.array([layout[v] for v in nodes], dtype=np.float64)
    lo, span = xy.min(0), np.maximum(xy.max(0) - xy.min(0), 1e-9)
    scale = GRAPH_SIZE - 2 * GRAPH_MARGIN
    return np.rint(GRAPH_MARGIN + (xy - lo) / span.max() * scale).astype(int)


def agent_offsets(count: int) -> list[tuple[int, int]]:
    """Where ``count`` agents sharing a node are drawn, relative to the node's centre."""
    if count == 1:
        return [(0, 0)]
    angles = 2 * np.pi * np.arange(count) / count
    return [(int(round(14 * np.cos(t))), int(round(14 * np.sin(t)))) for t in angles]


def draw_graph(
    graph: nx.Graph, nodes: list, positions: np.ndarray, num_pursuers: int, captured: bool = False
):
    """The graph with pursuers (palette colours 0..k-1) and the evader (colour k) on the nodes
    given by ``positions`` (node indices; -1 for nobody on the graph); ``captured`` says the
    evader was caught (the positions are then where everyone moved to)."""
    xy = graph_positions(graph, nodes)
    index = {v: i for i, v in enumerate(nodes)}
    surf = surface(GRAPH_SIZE, GRAPH_SIZE)
    for u, v in graph.edges:
        pygame.draw.line(surf, (190, 190, 196), xy[index[u]], xy[index[v]], 3)
    for p in xy:
        pygame.draw.circle(surf, (235, 235, 240), p, 20)
        pygame.draw.circle(surf, (150, 150, 160), p, 20, 2)
    colors = agent_colors(num_pursuers + 1)
    legend = [("disc", colors[k], f"pursuer_{k}") for k in range(num_pursuers)]
    legend.append(("disc", colors[num_pursuers], "evader_0"))
    if captured:
        draw_text(surf, ["evader captured"], pos=(8, 6))
    for node in np.unique(positions[positions >= 0]):
        here = np.flatnonzero(positions == node)
        for agent, (dx, dy) in zip(here, agent_offsets(len(here))):
            center = (xy[node][0] + dx, xy[node][1] + dy)
            pygame.draw.circle(surf, tuple(int(c) for c in colors[agent]), center, 10)
    return _with_legend(surf, legend)


MATRIX_CELL = 72
MATRIX_LEFT = 110
MATRIX_TOP = 64


def matrix_cell_rect(i: int, j: int) -> pygame.Rect:
    return pygame.Rect(
        MATRIX_LEFT + j * MATRIX_CELL, MATRIX_TOP + i * MATRIX_CELL, MATRIX_CELL, MATRIX_CELL
    )


def draw_matrix(A, B, row_actions, col_actions, last, round_: int = 0, rounds: int = 1):
    """Heatmap of the row player's payoffs (grey levels) with both payoffs written in each
    cell; the last joint action is framed and marked with the two players' colours."""
    m, n = A.shape
    colors = [tuple(int(v) for v in c) for c in agent_colors(2)]
    surf = surface(MATRIX_LEFT + n * MATRIX_CELL + 16, MATRIX_TOP + m * MATRIX_CELL + 16)
    span = max(float(A.max() - A.min()), 1e-12)
    for i in range(m):
        for j in range(n):
            level = int(245 - 95 * (A[i, j] - A.min()) / span)
            rect = matrix_cell_rect(i, j)
            pygame.draw.rect(surf, (level, level, level), rect)
            pygame.draw.rect(surf, GRID_LINE, rect, 1)
            a, b = A[i, j] + 0.0, B[i, j] + 0.0  # + 0.0 turns -0.0 into 0.0
            draw_text(surf, [f"{a:g}, {b:g}"], pos=(rect.x + 8, rect.y + 28), size=18)
    for i, name in enumerate(row_actions):
        rect = matrix_cell_rect(i, 0)
        pygame.draw.rect(surf, colors[0], (6, rect.y + 4, 6, MATRIX_CELL - 8))
        draw_text(surf, [name[:10]], pos=(18, rect.y + 28), size=18)
    for j, name in enumerate(col_actions):
        rect = matrix_cell_rect(0, j)
        pygame.draw.rect(surf, colors[1], (rect.x + 4, MATRIX_TOP - 10, MATRIX_CELL - 8, 6))
        draw_text(surf, [name[:9]], pos=(rect.x + 4, MATRIX_TOP - 30), size=18)
    draw_text(surf, [f"round {min(round_, rounds)}/{rounds}"], pos=(8, 6), size=18)
    if last is not None:
        rect = matrix_cell_rect(*last)
        pygame.draw.rect(surf, TEXT, rect, 3)
        pygame.draw.rect(surf, colors[0], (rect.x + 6, rect.y + 6, 12, 12))
        pygame.draw.rect(surf, colors[1], (rect.right - 18, rect.y + 6, 12, 12))
    legend = [
        ("square", colors[0], "player_0 picks the row"),
        ("square", colors[1], "player_1 the column"),
    ]
    return _with_legend(surf, legend, "cells: player_0's payoff, player_1's; framed: last play")
