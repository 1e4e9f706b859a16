"""Drawing a traffic state: lanes, signal lights at stop lines, vehicles coloured by driver.

Background vehicles are coloured by driver type (cautious blue, normal green, aggressive
vermillion), controlled vehicles purple; a status bar under the map shows time and counts.
"""

from __future__ import annotations

import numpy as np
import pygame

from metagame.envs import rendering
from metagame.envs.traffic.core import CTRL, GREEN, KIND, YELLOW
from metagame.envs.traffic.drivers import LENGTH
from metagame.envs.traffic.network import LANE_WIDTH

_PALETTE = rendering.agent_colors(10)
DRIVER_COLORS = np.array([_PALETTE[0], _PALETTE[2], _PALETTE[1]], dtype=np.uint8)
CONTROLLED_COLOR = tuple(int(c) for c in _PALETTE[7])
ROAD = (96, 96, 104)
LIGHT_COLORS = {GREEN: (0, 200, 80), YELLOW: (240, 200, 0)}
RED_LIGHT = (220, 30, 30)
STATUS_BAR = 26
MARGIN = 15.0  # m around the network


class TrafficRenderer:
    """Draws frames of one :class:`TrafficEnv` (world metres -> pixels, y up)."""

    def __init__(self, env, max_size: int = 900):
        self.env = env
        net = env.net
        lo = net.node_xy.min(axis=0) - MARGIN - 4 * LANE_WIDTH
        hi = net.node_xy.max(axis=0) + MARGIN + 4 * LANE_WIDTH
        self.origin = lo
        self.scale = max_size / float(max(hi - lo))
        size = np.ceil((hi - lo) * self.scale).astype(int)
        self.width, self.map_height = int(max(size[0], 200)), int(max(size[1], 40))
        self.window = None

    def to_pixel(self, xy: np.ndarray) -> np.ndarray:
        """World points ``(n, 2)`` to pixel (column, row) ``(n, 2)``."""
        xy = np.atleast_2d(xy)
        col = (xy[:, 0] - self.origin[0]) * self.scale
        row = self.map_height - (xy[:, 1] - self.origin[1]) * self.scale
        return np.stack([col, row], axis=1)

    def _quad(self, center, heading, length, width, min_px=(5.0, 3.0)):
        length = max(length, min_px[0] / self.scale)
        width = max(width, min_px[1] / self.scale)
        right = np.array([heading[1], -heading[0]])
        corners = [
            center + heading * sx * length / 2 + right * sy * width / 2
            for sx, sy in ((1, 1), (1, -1), (-1, -1), (-1, 1))
        ]
        return [tuple(p) for p in self.to_pixel(np.array(corners))]

    def frame(self) -> np.ndarray:
        env, net = self.env, self.env.net
        surf = rendering.surface(self.width, self.map_height + STATUS_BAR)
        for link in range(net.num_links):
            a, b = net.node_xy[net.link_nodes[link]]
            heading = (b - a) / np.hypot(*(b - a))
            right = np.array([heading[1], -heading[0]])
            lanes = net.link_lanes[link]
            mid = (a + b) / 2 + right * lanes * LANE_WIDTH / 2
            pygame.draw.polygon(
                surf,
                ROAD,
                self._quad(mid, heading, np.hypot(*(b - a)), lanes * LANE_WIDTH, (1.0, 1.0)),
            )
        for link in np.flatnonzero(env.signals.controlled_links):
            a, b = net.node_xy[net.link_nodes[link]]
            heading = (b - a) / np.hypot(*(b - a))
            right = np.array([heading[1], -heading[0]])
            stop = b - heading * 6.0 + right * net.link_lanes[link] * LANE_WIDTH / 2
            color = LIGHT_COLORS.get(int(env._light[link]), RED_LIGHT)
            center = self.to_pixel(stop)[0]
            pygame.draw.circle(
                surf, color, (int(center[0]), int(center[1])), max(3, int(1.5 * self.scale))
            )
        idx, xy, heading = env.world_positions()
        for i, p, h in zip(idx, xy, heading):
            color = (
                CONTROLLED_COLOR
                if env.ints[CTRL, i] >= 0
                else tuple(int(c) for c in DRIVER_COLORS[env.ints[KIND, i]])
            )
            pygame.draw.polygon(surf, color, self._quad(p, h, env.params[LENGTH, i], 2.0))
        m = env.metrics()
        rendering.draw_text(
            surf,
            [
                f"t={env.t:6.1f}s  vehicles {int(m['present'])}  arrived {int(m['arrived'])}  "
                f"crashed {int(m['crashed'])}  mean speed {m['mean_speed']:.1f} m/s"
            ],
            pos=(6, self.map_height + 5),
            size=18,
        )
        return rendering.to_array(surf)

    def show(self, frame: np.ndarray) -> None:
        if self.window is None:
            self.window = rendering.HumanWindow("metagame traffic")
        self.window.show(frame, fps=self.env.metadata["render_fps"])

    def close(self) -> None:
        if self.window is not None:
            self.window.close()
            self.window = None
