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
        controlled = np.zeros(num_links, dtype=bool)
        for groups in phases:
            for g in groups:
                controlled[g] = True
        self.controlled_links = controlled
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
        light = np.full(self.num_links, GREEN, dtype=np.int8)
        light[self.controlled_links] = RED
        for s, groups in enumerate(self.phases):
            light[groups[self.phase[s]]] = YELLOW if self.yellow_left[s] > 0 else GREEN
        return light

    def advance(self) -> None:
        """Counts one step: green time grows; yellow runs down and then the next phase starts."""
        in_yellow = self.yellow_left > 0
        self.elapsed[~in_yellow] += 1
        self.yellow_left[in_yellow] -= 1
        done = in_yellow & (self.yellow_left == 0)
        self.phase[done] = self.pending[done]
        self.elapsed[done] = 0
