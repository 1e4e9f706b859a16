"""Traffic signals: phases, minimum green and yellow, as fixed-time plans or agent decisions.

Each signalised junction cycles through phases (sets of approach links that are green). A
controller (an agent, or the fixed-time plan ``green`` seconds per phase) asks for the next
phase; the request takes effect only after the current phase has been green for ``min_green``
seconds, and the change always passes through ``yellow`` seconds in which the ending phase's
links are yellow and all others red. Time is counted in decision steps of ``step_time`` seconds,
as in sumo-rl's traffic-signal agents (Alegre 2019).

The three operations of a step (:func:`request_phases`, :func:`advance_phases`,
:func:`set_lights`) are Numba kernels over a :class:`SignalPlan` and a :class:`SignalState`, so
that the env's step kernel runs them; ``request_reference``, ``advance_reference`` and
``lights_reference`` are the NumPy references the tests compare them with.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from metagame.envs.traffic.core import GREEN, RED, YELLOW


class SignalPlan(NamedTuple):
    """The fixed part of every signal: phase counts, timings in steps and the phases' green
    links flattened (entry ``e`` is link ``entry_link[e]`` of phase group ``entry_group[e]``,
    which belongs to signal ``entry_signal[e]``; group ``first_group[s] + k`` is phase ``k`` of
    signal ``s``); ``dark`` is every link's light with no phase on (controlled links red)."""

    num_phases: np.ndarray
    first_group: np.ndarray
    entry_group: np.ndarray
    entry_signal: np.ndarray
    entry_link: np.ndarray
    dark: np.ndarray
    min_green: int
    yellow: int
    green: int


class SignalState(NamedTuple):
    """Per signal: its phase, steps of green in it, yellow steps left and the phase that
    follows the yellow (arrays changed in place)."""

    phase: np.ndarray
    elapsed: np.ndarray
    yellow_left: np.ndarray
    pending: np.ndarray


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
        sizes = [len(g) for groups in phases for g in groups]
        entry_link = np.concatenate(
            [np.asarray(g, dtype=np.int64) for groups in phases for g in groups] or [[]]
        ).astype(np.int64)
        self.controlled_links = np.zeros(num_links, dtype=bool)
        self.controlled_links[entry_link] = True
        self.plan = SignalPlan(
            num_phases=self.num_phases,
            first_group=np.cumsum(self.num_phases) - self.num_phases,
            entry_group=np.repeat(np.arange(len(sizes)), sizes).astype(np.int64),
            entry_signal=np.repeat(
                np.repeat(np.arange(len(phases)), self.num_phases), sizes
            ).astype(np.int64),
            entry_link=entry_link,
            dark=np.where(self.controlled_links, RED, GREEN).astype(np.int8),
            min_green=self.min_green,
            yellow=self.yellow,
            green=self.green,
        )
        self.reset()

    @staticmethod
    def _steps(seconds: float, step_time: float) -> int:
        return int(math.ceil(seconds / step_time - 1e-9))

    def __len__(self) -> int:
        return len(self.phases)

    def reset(self) -> None:
        n = len(self.phases)
        self.state = SignalState(*(np.zeros(n, dtype=np.int64) for _ in SignalState._fields))

    @property
    def phase(self) -> np.ndarray:
        return self.state.phase

    @property
    def elapsed(self) -> np.ndarray:
        """Steps of green in the current phase."""
        return self.state.elapsed

    @property
    def yellow_left(self) -> np.ndarray:
        return self.state.yellow_left

    def can_switch(self) -> np.ndarray:
        """Signals free to start a change now (not in yellow, minimum green served)."""
        return (self.yellow_left == 0) & (self.elapsed >= self.min_green)

    def request(self, wanted: np.ndarray) -> None:
        """Asks for phases (one per signal; -1 keeps the fixed-time plan); illegal asks are
        ignored."""
        request_phases(self.plan, self.state, np.asarray(wanted, dtype=np.int64))

    def lights(self) -> np.ndarray:
        """Per-link light for this step: GREEN, YELLOW or RED (uncontrolled links: GREEN)."""
        light = np.empty(self.num_links, dtype=np.int8)
        set_lights(self.plan, self.state, light)
        return light

    def advance(self) -> None:
        """Counts one step: green time grows; yellow runs down and then the next phase starts."""
        advance_phases(self.state)


@njit(cache=True, _nrt=False)
def request_phases(plan, state, wanted) -> None:
    """Each signal free to switch (:meth:`Signals.can_switch`) whose asked phase (``wanted``;
    -1: the fixed-time plan's, the next phase once ``green`` steps are served) is another valid
    phase starts its yellow towards it; with no yellow the phase changes at once."""
    for s in range(state.phase.shape[0]):
        phase = state.phase[s]
        want = wanted[s]
        if want < 0:
            want = (phase + 1) % plan.num_phases[s] if state.elapsed[s] >= plan.green else phase
        free = state.yellow_left[s] == 0 and state.elapsed[s] >= plan.min_green
        if not free or want == phase or want >= plan.num_phases[s]:
            continue
        state.pending[s] = want
        state.yellow_left[s] = plan.yellow
        if plan.yellow == 0:
            state.phase[s] = want
            state.elapsed[s] = 0


@njit(cache=True, _nrt=False)
def advance_phases(state) -> None:
    """One step: a signal in yellow counts it down and starts its pending phase at zero;
    the others add a step of green."""
    for s in range(state.phase.shape[0]):
        if state.yellow_left[s] > 0:
            state.yellow_left[s] -= 1
            if state.yellow_left[s] == 0:
                state.phase[s] = state.pending[s]
                state.elapsed[s] = 0
        else:
            state.elapsed[s] += 1


@njit(cache=True, _nrt=False)
def set_lights(plan, state, light) -> None:
    """Writes every link's light into ``light``: the current phase's links GREEN (YELLOW while
    their signal is in yellow), the other controlled links RED, uncontrolled links GREEN."""
    for link in range(light.shape[0]):
        light[link] = plan.dark[link]
    for e in range(plan.entry_link.shape[0]):
        s = plan.entry_signal[e]
        if plan.entry_group[e] == plan.first_group[s] + state.phase[s]:
            light[plan.entry_link[e]] = YELLOW if state.yellow_left[s] > 0 else GREEN


def request_reference(plan: SignalPlan, state: SignalState, wanted: np.ndarray) -> SignalState:
    """NumPy reference of :func:`request_phases` (returns the new state)."""
    phase, elapsed, yellow_left, pending = (a.copy() for a in state)
    planned = np.where(elapsed >= plan.green, (phase + 1) % plan.num_phases, phase)
    wanted = np.where(wanted < 0, planned, wanted)
    start = (yellow_left == 0) & (elapsed >= plan.min_green)
    start &= (wanted != phase) & (wanted < plan.num_phases)
    pending[start] = wanted[start]
    yellow_left[start] = plan.yellow
    instant = start & (plan.yellow == 0)
    phase[instant] = pending[instant]
    elapsed[instant] = 0
    return SignalState(phase, elapsed, yellow_left, pending)


def advance_reference(state: SignalState) -> SignalState:
    """NumPy reference of :func:`advance_phases` (returns the new state)."""
    phase, elapsed, yellow_left, pending = (a.copy() for a in state)
    in_yellow = yellow_left > 0
    elapsed[~in_yellow] += 1
    yellow_left[in_yellow] -= 1
    done = in_yellow & (yellow_left == 0)
    phase[done] = pending[done]
    elapsed[done] = 0
    return SignalState(phase, elapsed, yellow_left, pending)


def lights_reference(plan: SignalPlan, state: SignalState) -> np.ndarray:
    """NumPy reference of :func:`set_lights` (returns the lights)."""
    light = plan.dark.copy()
    active = np.zeros(int(plan.num_phases.sum()), dtype=bool)
    active[plan.first_group + state.phase] = True
    on = active[plan.entry_group]
    yellow = state.yellow_left[plan.entry_signal[on]] > 0
    light[plan.entry_link[on]] = np.where(yellow, YELLOW, GREEN)
    return light
