"""LaCAM: Lazy Constraints Addition search for MAPF (Okumura, AAAI 2023).

A depth-first search over joint configurations in which each high-level node generates its
successors lazily: a low-level breadth-first tree of constraints ("agent i goes to vertex v
next") is grown one node per visit, and each constraint set is completed into a successor
configuration by one PIBT step (:func:`metagame.agents.planners.pibt.pibt_step`). A node whose
constraint tree is exhausted is dropped; a configuration seen before is pushed again rather
than duplicated. Every successor of every configuration is eventually generated, so LaCAM is
complete: it finds a solution when one exists and reports failure otherwise (given time),
including on dense instances where PIBT alone livelocks. Solutions are not optimal.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from metagame.agents.planners.instance import Instance, PlanningFailed
from metagame.agents.planners.pibt import initial_priorities, pibt_step, step, update_priorities


@dataclass
class Constraint:
    """A low-level node: agent ``who`` goes to vertex ``where``, on top of ``parent``."""

    parent: Constraint | None = None
    who: int = -1
    where: int = -1
    depth: int = 0

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        agents, vertices = [], []
        node = self
        while node.parent is not None:
            agents.append(node.who)
            vertices.append(node.where)
            node = node.parent
        return np.array(agents[::-1], dtype=np.int64), np.array(vertices[::-1], dtype=np.int64)


@dataclass
class Node:
    """A high-level node: a configuration, its parent, priorities, and its constraint tree."""

    config: np.ndarray
    parent: Node | None
    priority: np.ndarray
    order: np.ndarray = field(init=False)
    tree: deque = field(default_factory=lambda: deque([Constraint()]))

    def __post_init__(self):
        self.order = np.argsort(-self.priority, kind="stable")


def lacam(inst: Instance, kernel=pibt_step, swap: bool = True) -> np.ndarray:
    """A solution as ``(T+1, n)`` configurations; PlanningFailed if none (or out of time)."""
    rng = np.random.default_rng(inst.seed)
    moves = inst.topology.moves
    goal_key = inst.goals.tobytes()
    root = Node(inst.starts.copy(), None, initial_priorities(inst))
    explored = {root.config.tobytes(): root}
    stack = [root]
    iterations = 0
    while stack:
        iterations += 1
        if iterations % 64 == 0:
            inst.check_time("lacam")
        node = stack[-1]
        if node.config.tobytes() == goal_key:
            configs = []
            while node is not None:
                configs.append(node.config)
                node = node.parent
            return np.array(configs[::-1])
        if not node.tree:
            stack.pop()
            continue
        low = node.tree.popleft()
        if low.depth < inst.num_agents:
            i = int(node.order[low.depth])
            options = moves[node.config[i]]
            options = options[options >= 0]
            for v in rng.permutation(options):
                node.tree.append(Constraint(low, i, int(v), low.depth + 1))
        agents, vertices = low.arrays()
        tiebreak = rng.random(moves.shape[0])
        ok, config = step(inst, kernel, node.config, node.order, tiebreak, agents, vertices, swap)
        if not ok:
            continue
        key = config.tobytes()
        if key in explored:
            stack.append(explored[key])
            continue
        child = Node(config, node, update_priorities(node.priority, config, inst.goals))
        explored[key] = child
        stack.append(child)
    raise PlanningFailed("lacam: no solution exists")
