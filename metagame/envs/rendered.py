"""``render()`` and ``close()`` for every env that draws its own frames.

Kept apart from :mod:`metagame.envs.rendering` so that importing an env loads no pygame: the
drawing toolkit is imported on the first ``render()`` in human mode (and by each family's
``_frame``).
"""

from __future__ import annotations

from typing import Any


class Rendered:
    """Mixin for an env that draws itself in ``_frame()``.

    ``render()`` returns the frame (an ``(H, W, 3)`` uint8 array, or whatever ``_frame``
    returns, e.g. text for ``"ansi"``), or with ``render_mode="human"`` shows it in a pygame
    window at ``metadata["render_fps"]`` (opened on first use, closed by ``close()``) and
    returns None. With no ``render_mode`` it returns None, unless the family sets
    ``frames_without_mode`` (the preference games draw on request whatever the mode). The
    window's title is ``caption``, by default ``metadata["name"]`` or the class name.
    """

    render_mode: str | None
    metadata: dict
    caption: str | None = None
    frames_without_mode = False
    _window = None

    def _frame(self) -> Any:
        raise NotImplementedError

    def render(self) -> Any:
        if self.render_mode is None and not self.frames_without_mode:
            return None
        frame = self._frame()
        if frame is None or self.render_mode != "human":
            return frame
        if self._window is None:
            from metagame.envs.rendering import HumanWindow

            title = self.caption or self.metadata.get("name") or type(self).__name__
            self._window = HumanWindow(title)
        self._window.show(frame, self.metadata.get("render_fps"))
        return None

    def _end_step(self, obs: dict, rewards: dict, done: bool, infos: dict) -> tuple:
        """A Parallel ``step``'s return for a game whose agents all end together: ``done``
        terminates every agent in ``rewards`` (nothing truncates) and ends the episode; in human
        mode the new state is shown, as PettingZoo envs do after each step."""
        terminations = dict.fromkeys(rewards, done)
        truncations = dict.fromkeys(rewards, False)
        if done:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return obs, rewards, terminations, truncations, infos

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None
