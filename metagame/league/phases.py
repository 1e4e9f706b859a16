"""The named phases of a league iteration, and a hook that pauses the runner at one of them.

An iteration runs ``training`` (RLlib's ``train()``), ``snapshot`` (new players written),
``evaluation`` (evaluation matches committed one block of a pair at a time), ``rating`` and
``checkpoint`` (the RLlib checkpoint is on disk, the commit marker not yet written); a new run
first runs ``setup`` (initial players, evaluated and rated, before its first checkpoint).

``METAGAME_LEAGUE_PAUSE_AT=PHASE[:ITERATION]`` makes the runner stop itself with SIGSTOP when
it reaches that phase (of that iteration, or of any), after printing one line to stderr. A
test (or a user checking the crash guarantees) then kills the stopped process with SIGKILL,
exactly as a crash at that moment would, and resumes the league.
"""

from __future__ import annotations

import os
import signal
import sys

PHASES = ("setup", "training", "snapshot", "evaluation", "rating", "checkpoint")
PAUSE_ENV = "METAGAME_LEAGUE_PAUSE_AT"


def pause_requested(phase: str, iteration: int, spec: str | None) -> bool:
    """Whether ``spec`` (``PHASE`` or ``PHASE:ITERATION``) names this phase of this iteration."""
    if not spec:
        return False
    name, _, at = spec.partition(":")
    if name not in PHASES:
        raise ValueError(f"{PAUSE_ENV}={spec!r}: the phase must be one of {', '.join(PHASES)}")
    if at and not at.isdigit():
        raise ValueError(f"{PAUSE_ENV}={spec!r}: the iteration must be a non-negative integer")
    return name == phase and (not at or int(at) == iteration)


def reached(phase: str, iteration: int) -> None:
    """Marks that the runner reached ``phase`` of ``iteration``; pauses there when asked to."""
    if pause_requested(phase, iteration, os.environ.get(PAUSE_ENV)):
        print(f"league: paused at {phase} of iteration {iteration}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)
