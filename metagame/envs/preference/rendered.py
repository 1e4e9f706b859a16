"""``render()`` for the preference family's envs in both render modes.

Kept apart from ``render.py`` so that importing an env loads no pygame: the drawing toolkit
(and its SDL settings) is imported on the first ``render()``.
"""

from __future__ import annotations

import numpy as np


class Rendered:
    """Mixin for an env that draws itself in ``_frame()``: ``render()`` returns the frame, or
    with ``render_mode="human"`` shows it in a pygame window at ``metadata["render_fps"]``
    (opened on first use, closed by ``close()``) and returns None."""

    render_mode: str | None
    metadata: dict
    _window = None

    def _frame(self) -> np.ndarray:
        raise NotImplementedError

    def render(self) -> np.ndarray | None:
        frame = self._frame()
        if self.render_mode != "human":
            return frame
        if self._window is None:
            from metagame.envs.rendering import HumanWindow

            self._window = HumanWindow(self.metadata["name"])
        self._window.show(frame, self.metadata["render_fps"])
        return None

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None
