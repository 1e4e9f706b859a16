"""Drawing a traffic state: roads with their lanes, signal heads, vehicles to scale.

Each directed link is drawn as its lanes on the right of the road's centre line (a solid yellow
line between the two directions of a two-way road, a solid white edge on a one-way road, dashed
white lines between lanes of one direction); a signal
head at the stop line of each signal-controlled link shows its phase (the lit lamp of red,
yellow, green); vehicles are drawn to scale with their heading (a pale windscreen at the front),
background vehicles coloured by driver type (cautious blue, normal green, aggressive
vermillion), controlled vehicles purple. A legend strip under the map names the colours and
shows time and counts.

A network much longer than wide (a highway) is drawn through a camera that follows the first
controlled vehicle on the road (the mean of all vehicles when none is controlled), so vehicles
stay visible instead of shrinking to specks along a thin strip.
"""

from __future__ import annotations

import numpy as np

from metagame.envs import rendering
from metagame.envs.rendering import pygame
from metagame.envs.traffic.core import GREEN, KIND, RED, YELLOW
from metagame.envs.traffic.drivers import DRIVER_TYPES, LENGTH
from metagame.envs.traffic.network import LANE_WIDTH

_PALETTE = rendering.agent_colors(10)
DRIVER_COLORS = np.array([_PALETTE[0], _PALETTE[2], _PALETTE[1], _PALETTE[4]], dtype=np.uint8)
DRIVER_NAMES = DRIVER_TYPES
CONTROLLED_COLOR = tuple(int(c) for c in _PALETTE[7])
ROAD = (96, 96, 104)
CENTRE_LINE = (236, 200, 60)
LANE_LINE = (235, 235, 235)
LAMPS = {RED: (220, 30, 30), YELLOW: (240, 200, 0), GREEN: (0, 200, 80)}
UNLIT = (60, 60, 64)
HEAD = (30, 30, 34)
MARGIN = 15.0  # m around the network
MAX_ASPECT = 3.0  # a wider network is seen through a following camera this wide
VEHICLE_WIDTH = 2.0  # m


class TrafficRenderer:
    """Draws frames of one :class:`TrafficEnv` (world metres -> pixels, y up)."""

    def __init__(self, env, max_size: int = 900):
        self.env = env
        net = env.net
        self.lo = net.node_xy.min(axis=0) - MARGIN - 4 * LANE_WIDTH
        self.hi = net.node_xy.max(axis=0) + MARGIN + 4 * LANE_WIDTH
        extent = self.hi - self.lo
        self.view = np.array([min(extent[0], MAX_ASPECT * extent[1]), extent[1]])
        self.scale = max_size / float(max(self.view))
        size = np.ceil(self.view * self.scale).astype(int)
        self.width, self.map_height = int(max(size[0], 200)), int(max(size[1], 40))

    @property
    def origin(self) -> np.ndarray:
        """The world point at the bottom-left pixel: fixed, or following the vehicles."""
        if self.view[0] >= self.hi[0] - self.lo[0]:
            return self.lo
        idx, xy, _ = self.env.world_positions()
        controlled = np.flatnonzero(np.isin(idx, self.env.controlled_slots()))
        if len(controlled):  # the first controlled vehicle on the road, as highway-env's ego
            centre = xy[controlled[0], 0]
        else:
            centre = xy[:, 0].mean() if len(xy) else self.lo[0] + self.view[0] / 2
        x = np.clip(centre - self.view[0] / 2, self.lo[0], self.hi[0] - self.view[0])
        return np.array([x, self.lo[1]])

    def to_pixel(self, xy: np.ndarray, origin: np.ndarray | None = None) -> np.ndarray:
        """World points ``(n, 2)`` to pixel (column, row) ``(n, 2)``."""
        origin = self.origin if origin is None else origin
        xy = np.atleast_2d(xy)
        col = (xy[:, 0] - origin[0]) * self.scale
        row = self.map_height - (xy[:, 1] - origin[1]) * self.scale
        return np.stack([col, row], axis=1)

    def _quad(self, origin, center, heading, length, width, min_px=(5.0, 3.0)):
        length = max(length, min_px[0] / self.scale)
        width = max(width, min_px[1] / self.scale)
        right = np.array([heading[1], -heading[0]])
        corners = [
            center + heading * sx * length / 2 + right * sy * width / 2
            for sx, sy in ((1, 1), (1, -1), (-1, -1), (-1, 1))
        ]
        return [tuple(p) for p in self.to_pixel(np.array(corners), origin)]

    def _line(self, surf, origin, a, b, color, width: int, dash: float = 0.0) -> None:
        """A line from world point a to b; dashed (``dash`` metres on, as many off) if given."""
        if dash <= 0:
            pa, pb = self.to_pixel(np.array([a, b]), origin)
            pygame.draw.line(surf, color, pa, pb, width)
            return
        length = float(np.hypot(*(b - a)))
        for start in np.arange(0.0, length, 2 * dash):
            end = min(start + dash, length)
            pa, pb = self.to_pixel(np.array([a + (b - a) * start / length,
                                             a + (b - a) * end / length]), origin)  # fmt: skip
            pygame.draw.line(surf, color, pa, pb, width)

    def _links(self, surf, origin) -> None:
        net = self.env.net
        line = max(1, int(0.15 * self.scale))
        for link in range(net.num_links):
            a, b = net.node_xy[net.link_nodes[link]]
            length = float(np.hypot(*(b - a)))
            heading = (b - a) / length
            right = np.array([heading[1], -heading[0]])
            lanes = int(net.link_lanes[link])
            mid = (a + b) / 2 + right * lanes * LANE_WIDTH / 2
            quad = self._quad(origin, mid, heading, length, lanes * LANE_WIDTH, (1.0, 1.0))
            pygame.draw.polygon(surf, ROAD, quad)
        pairs = {tuple(ends) for ends in net.link_nodes.tolist()}
        for link in range(net.num_links):
            u, v = net.link_nodes[link]
            a, b = net.node_xy[[u, v]]
            heading = (b - a) / float(np.hypot(*(b - a)))
            right = np.array([heading[1], -heading[0]])
            inset = heading * LANE_WIDTH * 2  # markings stop short of the junction boxes
            two_way = (int(v), int(u)) in pairs  # yellow between directions, white at an edge
            edge = CENTRE_LINE if two_way else LANE_LINE
            self._line(surf, origin, a + inset, b - inset, edge, line)
            for k in range(1, int(net.link_lanes[link])):
                offset = right * k * LANE_WIDTH
                self._line(surf, origin, a + inset + offset, b - inset + offset, LANE_LINE,
                           line, dash=3.0)  # fmt: skip

    def _signals(self, surf, origin) -> None:
        env, net = self.env, self.env.net
        lamp = max(2, int(0.9 * self.scale))
        lights = env.lights
        for link in np.flatnonzero(env.signals.controlled_links):
            a, b = net.node_xy[net.link_nodes[link]]
            heading = (b - a) / np.hypot(*(b - a))
            right = np.array([heading[1], -heading[0]])
            edge = b - heading * 6.0 + right * (net.link_lanes[link] * LANE_WIDTH + 1.5)
            lit = int(lights[link])
            centres = self.to_pixel(np.array([edge - heading * k * 2.2 for k in (1, 0, -1)]),
                                    origin)  # fmt: skip
            box = np.vstack([centres.min(0) - lamp - 2, centres.max(0) + lamp + 2])
            pygame.draw.rect(surf, HEAD, pygame.Rect(*box[0], *(box[1] - box[0])), 0, 3)
            for state, c in zip((RED, YELLOW, GREEN), centres):
                color = LAMPS[state] if state == lit else UNLIT
                pygame.draw.circle(surf, color, (int(c[0]), int(c[1])), lamp)

    def _vehicles(self, surf, origin) -> None:
        env = self.env
        idx, xy, heading = env.world_positions()
        controlled = set(env.controlled_slots().tolist())
        for i, p, h in zip(idx, xy, heading):
            color = (
                CONTROLLED_COLOR
                if i in controlled
                else tuple(int(c) for c in DRIVER_COLORS[env.ints[KIND, i]])
            )
            length = env.params[LENGTH, i]
            body = self._quad(origin, p, h, length, VEHICLE_WIDTH)
            pygame.draw.polygon(surf, color, body)
            pygame.draw.polygon(surf, rendering.TEXT, body, 1)
            screen = self._quad(origin, p + h * length * 0.3, h, length * 0.15,
                                VEHICLE_WIDTH * 0.8, (1.0, 1.0))  # fmt: skip
            pygame.draw.polygon(surf, (225, 235, 245), screen)

    def frame(self) -> np.ndarray:
        origin = self.origin
        surf = rendering.surface(self.width, self.map_height)
        self._links(surf, origin)
        self._signals(surf, origin)
        self._vehicles(surf, origin)
        picture = rendering.to_array(surf)
        return np.vstack([picture, rendering.legend_strip(self.width, *self.legend())])

    def legend(self) -> tuple[list, str]:
        env = self.env
        items = [("square", DRIVER_COLORS[k], f"{n} driver") for k, n in enumerate(DRIVER_NAMES)]
        items.append(("square", CONTROLLED_COLOR, "controlled"))
        if env.signals.controlled_links.any():
            items += [("disc", LAMPS[s], f"signal {n}") for s, n in
                      ((RED, "red"), (YELLOW, "yellow"), (GREEN, "green"))]  # fmt: skip
        m = env.metrics()
        note = (
            f"t={env.t:6.1f}s  vehicles {int(m['present'])}  arrived {int(m['arrived'])}  "
            f"crashed {int(m['crashed'])}  mean speed {m['mean_speed']:.1f} m/s"
        )
        return items, note
