"""Traffic signals: phases, minimum green and yellow, as fixed-time plans or agent decisions.

Each signalised junction cycles through phases (sets of approach links that are green). A
controller (an agent, or the fixed-time plan ``green`` seconds per phase) asks for the next
phase; the request takes effect only after the current phase has been green for ``min_green``
seconds, and the change always passes through ``yellow`` seconds in which the ending phase's
links are yellow and all others red. Time is counted in decision steps of ``step_time`` seconds,
as in sumo-rl's traffic-signal agents (Alegre 2019).
"""

from __future__ import annotations

import math

import numpy as np

from metagame.envs.traffic.core import GREEN, RED, YELLOW


class Signals:
    """The state of every signal of a network: phase, green time so far, yellow remaining."""

    def __init__(
        self,
        phases: list,
        num_links: int,
        step_time: float,
        min_green: float,
        yellow: float,
        green: float,
    ):
        if min_green < 0 or yellow < 0 or green < min_green:
            raise ValueError(
                f"signal timing needs 0 <= min_green <= green and yellow >= 0, got "
                f"min_green={min_green}, green={green}, yellow={yellow}"
            )
        self.phases = phases
        self.num_links = num_links
        self.num_phases = np.array([len(p) for p in phases], dtype=np.int64)
        self.min_green = self._steps(min_green, step_time)
        self.yellow = self._steps(yellow, step_time)
        self.green = max(self._steps(green, step_time), 1)
        # The phases' green links flattened: entry e is link ``_entry_link[e]`` of phase
        # group ``_entry_group[e]`` (group ``_first_group[s] + k``: phase k of signal s).
        sizes = [len(g) for groups in phases for g in groups]
        self._first_group = np.cumsum(self.num_phases) - self.num_phases
        self._num_groups = int(self.num_phases.sum())
        self._entry_group = np.repeat(np.arange(len(sizes)), sizes)
        self._entry_signal = np.repeat(
            np.repeat(np.arange(len(phases)), self.num_phases), sizes
        ).astype(np.int64)
        self._entry_link = np.concatenate(
            [np.asarray(g, dtype=np.int64) for groups in phases for g in groups] or [[]]
        ).astype(np.int64)
        self.controlled_links = np.zeros(num_links, dtype=bool)
        self.controlled_links[self._entry_link] = True
        self._dark = np.where(self.controlled_links, RED, GREEN).astype(np.int8)
        self.reset()

    @staticmethod
    def _steps(seconds: float, step_time: float) -> int:
        return int(math.ceil(seconds / step_time - 1e-9))

    def __len__(self) -> int:
        return len(self.phases)

    def reset(self) -> None:
        n = len(self.phases)
        self.phase = np.zeros(n, dtype=np.int64)
        self.elapsed = np.zeros(n, dtype=np.int64)  # steps of green in the current phase
        self.yellow_left = np.zeros(n, dtype=np.int64)
        self.pending = np.zeros(n, dtype=np.int64)

    def can_switch(self) -> np.ndarray:
        """Signals free to start a change now (not in yellow, minimum green served)."""
        return (self.yellow_left == 0) & (self.elapsed >= self.min_green)

    def request(self, wanted: np.ndarray) -> None:
        """Asks for phases (one per signal; -1 keeps the fixed-time plan); illegal asks are
        ignored."""
        plan = np.where(self.elapsed >= self.green, (self.phase + 1) % self.num_phases, self.phase)
        wanted = np.where(wanted < 0, plan, wanted)
        start = self.can_switch() & (wanted != self.phase) & (wanted < self.num_phases)
        self.pending[start] = wanted[start]
        self.yellow_left[start] = self.yellow
        # A zero-length yellow switches at once.
        instant = start & (self.yellow == 0)
        self.phase[instant] = self.pending[instant]
        self.elapsed[instant] = 0

    def lights(self) -> np.ndarray:
        """Per-link light for this step: GREEN, YELLOW or RED (uncontrolled links: GREEN)."""
        light = self._dark.copy()
        active = np.zeros(self._num_groups, dtype=bool)
        active[self._first_group + self.phase] = True
        on = active[self._entry_group]
        yellow = self.yellow_left[self._entry_signal[on]] > 0
        light[self._entry_link[on]] = np.where(yellow, YELLOW, GREEN)
        return light

    def advance(self) -> None:
        """Counts one step: green time grows; yellow runs down and then the next phase starts."""
        in_yellow = self.yellow_left > 0
        self.elapsed[~in_yellow] += 1
        self.yellow_left[in_yellow] -= 1
        done = in_yellow & (self.yellow_left == 0)
        self.phase[done] = self.pending[done]
        self.elapsed[done] = 0
