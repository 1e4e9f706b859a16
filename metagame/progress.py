"""Progress of long loops: a rich progress bar on stderr when it is a terminal, nothing when it
is not (a log file, CI, a pipe), so output never fills with redrawn lines."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def progress(description: str, total: float, console: Any = None) -> Iterator[Callable]:
    """Yields ``advance(n=1)``; shows elapsed time, completed/total and the time remaining.

    ``console`` is a ``rich.console.Console`` to draw on (by default stderr, and only when
    stderr is a terminal).
    """
    if console is None and not sys.stderr.isatty():
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(*bar_columns(), console=console or Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def bar_columns() -> tuple:
    """The columns of metagame's progress bars: description, bar, completed/total, elapsed
    time and time remaining."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
