"""MAPF episode metrics (Stern et al., SoCS 2019; POGEMA, Skrynnik et al., ICLR 2025).

One-shot runs (``on_target="stay"`` or ``"finish"``): CSR (1 if every agent reached its goal),
ISR (fraction of agents that did), makespan (the step at which the last agent reached its goal
for good) and sum of costs (those steps summed; an agent that never arrived counts the episode
length). Lifelong runs (``"restart"``): throughput, goals reached per step.
"""

from __future__ import annotations

import numpy as np


def one_shot(arrival: np.ndarray, steps: int) -> dict[str, float]:
    """``arrival[i]`` is the step agent ``i`` reached its goal for good, or -1."""
    done = arrival >= 0
    cost = np.where(done, arrival, steps)
    return {
        "CSR": float(done.all()),
        "ISR": float(done.mean()),
        "makespan": int(cost.max()) if len(cost) else 0,
        "sum_of_costs": int(cost.sum()),
        "steps": int(steps),
    }


def lifelong(goals_reached: np.ndarray, steps: int) -> dict[str, float]:
    """``goals_reached[i]`` counts the goals agent ``i`` reached."""
    total = int(goals_reached.sum())
    return {
        "throughput": total / max(steps, 1),
        "goals_reached": total,
        "steps": int(steps),
    }
