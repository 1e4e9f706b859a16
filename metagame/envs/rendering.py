"""Drawing shared by every environment's renderer.

Each family draws itself (``render_mode="rgb_array"`` returns an ``(H, W, 3)`` uint8 array;
``"human"`` shows it in a pygame window); the viewer in ``metagame.viz`` composes these frames
with its side panel. This module holds what the families share: a palette with distinct agent
colours, surface/array conversion, text rendering and the human window. Drawing off-screen
needs no display; a window needs one, and :func:`init_display` falls back to SDL's dummy driver
(nothing is shown, nothing fails) where there is none. Importing this module changes no
environment variable: the fallback is chosen when a window opens.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

with contextlib.redirect_stdout(None):  # pygame's import banner
    import pygame

BACKGROUND = (250, 250, 250)
WALL = (40, 40, 48)
GRID_LINE = (220, 220, 226)
TEXT = (20, 20, 24)

# Distinct, colour-blind-friendly hues for agents (Okabe-Ito, then Tableau), cycled beyond.
_BASE = np.array(
    [
        (0, 114, 178),
        (213, 94, 0),
        (0, 158, 115),
        (204, 121, 167),
        (230, 159, 0),
        (86, 180, 233),
        (240, 228, 66),
        (148, 103, 189),
        (140, 86, 75),
        (127, 127, 127),
    ],
    dtype=np.uint8,
)


def agent_colors(n: int) -> np.ndarray:
    """``(n, 3)`` uint8 colours, one per agent; the first ten are the fixed base hues."""
    if n <= len(_BASE):
        return _BASE[:n].copy()
    rng = np.random.default_rng(12345)
    extra = rng.integers(40, 220, size=(n - len(_BASE), 3), dtype=np.uint8)
    return np.concatenate([_BASE, extra])


def surface(width: int, height: int, color=BACKGROUND) -> pygame.Surface:
    """An off-screen RGB surface filled with ``color``."""
    surf = pygame.Surface((int(width), int(height)))
    surf.fill(color)
    return surf


def to_array(surf: pygame.Surface) -> np.ndarray:
    """The surface's pixels as an ``(H, W, 3)`` uint8 array (one copy, row-major)."""
    width, height = surf.get_size()
    return np.frombuffer(pygame.image.tobytes(surf, "RGB"), np.uint8).reshape(height, width, 3)


def from_array(frame: np.ndarray) -> pygame.Surface:
    """An ``(H, W, 3)`` uint8 array as a surface (one copy)."""
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    return pygame.image.frombytes(frame.tobytes(), (frame.shape[1], frame.shape[0]), "RGB")


_FONTS: dict[int, pygame.font.Font] = {}


def font(size: int = 14) -> pygame.font.Font:
    """pygame's default font at ``size`` points (cached)."""
    if not pygame.font.get_init():
        pygame.font.init()
    if size not in _FONTS:
        _FONTS[size] = pygame.font.Font(None, size)
    return _FONTS[size]


def draw_text(surf: pygame.Surface, lines, pos=(8, 8), size: int = 18, color=TEXT) -> int:
    """Draws lines of text from ``pos`` downward; returns the y below the last line."""
    x, y = pos
    f = font(size)
    for line in lines:
        surf.blit(f.render(str(line), True, color), (x, y))
        y += f.get_linesize()
    return y


def text_frame(text: str, width: int = 480, size: int = 18) -> np.ndarray:
    """Renders multi-line text (e.g. an OpenSpiel state) on a blank frame."""
    lines = text.splitlines() or [""]
    height = 16 + font(size).get_linesize() * len(lines)
    surf = surface(width, max(height, 64))
    draw_text(surf, lines, size=size)
    return to_array(surf)


def init_display() -> str:
    """Initialises pygame's display; without a screen (no ``DISPLAY``, no ``WAYLAND_DISPLAY``,
    no driver chosen by the user) on SDL's dummy driver. Returns the driver's name."""
    if not pygame.display.get_init():
        headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        if headless and "SDL_VIDEODRIVER" not in os.environ:
            os.environ["SDL_VIDEODRIVER"] = "dummy"
        pygame.display.init()
    return pygame.display.get_driver()


class HumanWindow:
    """A pygame window that shows frames; opened on first use, closed by ``close()``."""

    def __init__(self, caption: str = "metagame"):
        self.caption = caption
        self._screen = None

    def show(self, frame: np.ndarray, fps: float | None = None) -> None:
        if self._screen is None or self._screen.get_size() != (frame.shape[1], frame.shape[0]):
            init_display()
            pygame.display.set_caption(self.caption)
            self._screen = pygame.display.set_mode((frame.shape[1], frame.shape[0]))
            self._clock = pygame.time.Clock()
        pygame.event.pump()
        self._screen.blit(from_array(frame), (0, 0))
        pygame.display.flip()
        if fps:
            self._clock.tick(fps)

    def close(self) -> None:
        if self._screen is not None:
            pygame.display.quit()
            self._screen = None


def _symbol(surf: pygame.Surface, kind: str, color, x: int, y: int, size: int) -> None:
    rect = pygame.Rect(x, y, size, size)
    if kind == "disc":
        pygame.draw.circle(surf, color, rect.center, size // 2)
    elif kind == "circle":  # a disc with a dark outline (a white ball stays visible)
        pygame.draw.circle(surf, color, rect.center, size // 2)
        pygame.draw.circle(surf, TEXT, rect.center, size // 2, 2)
    elif kind == "ring":
        pygame.draw.rect(surf, color, rect, max(1, size // 6))
    elif kind == "line":
        pygame.draw.line(surf, color, (x, y + size // 2), (x + size, y + size // 2), 3)
    else:  # "square"
        surf.fill(color, rect)


def legend_strip(width: int, items, note: str = "", size: int = 16) -> np.ndarray:
    """An ``(H, width, 3)`` strip to put under a frame: each item ``(kind, colour, label)`` as a
    symbol (``disc``, ``circle``, ``ring``, ``square``, ``line``) and its label, then ``note``;
    the items wrap onto more lines when they do not fit."""
    f = font(size + 2)
    line_h = size + 10
    lines: list[list[tuple]] = [[]]
    x = 8
    for kind, color, label in items:
        w = size + 6 + f.size(label)[0] + 16
        if x + w > width and lines[-1]:
            lines.append([])
            x = 8
        lines[-1].append((x, kind, color, label))
        x += w
    rows = len(lines) + (1 if note else 0)
    surf = surface(width, rows * line_h + 6, (236, 238, 243))
    for k, line in enumerate(lines):
        y = 4 + k * line_h
        for x, kind, color, label in line:
            _symbol(surf, kind, tuple(int(c) for c in color), x, y + 2, size)
            surf.blit(f.render(label, True, TEXT), (x + size + 6, y + 2))
    if note:
        surf.blit(f.render(note, True, TEXT), (8, 4 + len(lines) * line_h + 2))
    return to_array(surf)
