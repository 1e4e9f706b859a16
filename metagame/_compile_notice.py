"""One line on stderr while Numba compiles a metagame kernel, so a first run never looks hung.

Numba compiles a kernel on its first call with new argument types and caches it on disk; some
families take 6-65 s to compile on 2 cores (the traffic kernels the longest). A listener on
Numba's ``numba:compile`` event starts a timer when a kernel of this package starts compiling and
prints one line if the compilation is still running after ``delay`` seconds; a kernel loaded from
the cache fires no event and prints nothing. Nested compilations (a kernel compiling the kernels
it calls) print at most the outer one. The public entry points install it (``make``, the
solvers, the agents, the ``league`` CLI); ``METAGAME_QUIET_COMPILE=1`` turns it off.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TextIO

_installed: _Notice | None = None


class _Notice:
    def __init__(self, stream: TextIO | None, delay: float):
        self.stream, self.delay = stream, delay
        self.depth = 0
        self.timer: threading.Timer | None = None
        self.lock = threading.Lock()

    def on_start(self, event) -> None:
        func = event.data["dispatcher"].py_func
        with self.lock:
            self.depth += 1
            if self.depth == 1 and func.__module__.startswith("metagame."):
                name = f"{func.__module__}.{func.__qualname__}"
                self.timer = threading.Timer(self.delay, self._say, (name,))
                self.timer.daemon = True
                self.timer.start()

    def on_end(self, event) -> None:
        with self.lock:
            self.depth -= 1
            if self.depth == 0 and self.timer is not None:
                self.timer.cancel()
                self.timer = None

    def _say(self, name: str) -> None:
        stream = self.stream or sys.stderr
        print(f"metagame: compiling {name} with Numba (first run only, cached after)", file=stream)
        stream.flush()


def announce_compilation(stream: TextIO | None = None, delay: float = 1.0) -> None:
    """Installs the listener once per process (later calls change nothing)."""
    global _installed
    if _installed is not None or os.environ.get("METAGAME_QUIET_COMPILE") == "1":
        return
    from numba.core import event

    notice = _Notice(stream, delay)

    class Listener(event.Listener):
        def on_start(self, ev) -> None:
            notice.on_start(ev)

        def on_end(self, ev) -> None:
            notice.on_end(ev)

    event.register("numba:compile", Listener())
    _installed = notice
