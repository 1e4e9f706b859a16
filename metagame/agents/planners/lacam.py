"""LaCAM (Okumura, AAAI 2023) and its anytime refinement LaCAM* (Okumura, IJCAI 2023), with
the engineering of LaCAM3 (Okumura, "Engineering LaCAM*", AAMAS 2024).

A depth-first search over joint configurations in which each high-level node generates its
successors lazily: a low-level breadth-first tree of constraints ("agent i goes to vertex v
next") is grown one node per visit, and each constraint set is completed into a successor
configuration by PIBT (:func:`metagame.agents.planners.pibt.best_step`: PIBT with the swap
operation, the best of ``runs`` randomised steps by edge cost plus sum of goal distances). A
node whose constraint tree is exhausted is dropped. Every successor of every configuration is
eventually generated, so LaCAM is complete: it finds a solution when one exists and reports
failure otherwise (given time), including on dense instances where PIBT alone livelocks.

LaCAM* keeps searching after the first solution (``anytime`` seconds): every node carries its
cost ``g`` (sum over steps of agents not resting on their goal), ``h`` (sum of goal distances)
and its neighbours in the search graph; reaching a known configuration again rewires the graph
(``_rewrite``: shorter ``g`` propagate through the neighbours, Dijkstra-like), nodes with
``f = g + h`` no better than the best solution are pruned, and with probability 1% the search
restarts from a random open node. Given unbounded time it converges to an optimal solution;
within the budget it returns the best found. Solutions are not optimal.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from metagame.agents.planners.instance import Instance, PlanningFailed
from metagame.agents.planners.pibt import initial_priorities, pibt_step, step, update_priorities
from metagame.agents.planners.scatter import no_scatter, scatter


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


@dataclass(eq=False)
class Node:
    """A high-level node: a configuration, its parent, priorities, its constraint tree, its
    cost ``g``, heuristic ``h`` and neighbours in the search graph."""

    config: np.ndarray
    parent: Node | None
    priority: np.ndarray
    g: int = 0
    h: int = -1  # sum of goal distances, computed when first needed (after a solution)
    order: np.ndarray = field(init=False)
    tree: deque = field(default_factory=lambda: deque([Constraint()]))
    neighbours: set = field(default_factory=set)

    def __post_init__(self):
        self.order = np.argsort(-self.priority, kind="stable")
        if self.parent is not None:
            self.neighbours.add(self.parent)
            self.parent.neighbours.add(self)


def edge_cost(a: np.ndarray, b: np.ndarray, goals: np.ndarray) -> int:
    """Agents not resting on their goal between configurations ``a`` and ``b``."""
    return int(np.count_nonzero((a != goals) | (b != goals)))


class Search:
    """The LaCAM / LaCAM* high-level search (see the module docstring)."""

    RESTART_FROM_START = 0.001  # a known configuration sends the search back to the start
    RESTART_FROM_OPEN = 0.01  # after a solution: continue from a random open node

    def __init__(self, inst: Instance, kernel, swap: bool, runs: int, spread: bool, until: float):
        self.inst, self.kernel, self.swap, self.runs = inst, kernel, swap, runs
        self.rng = np.random.default_rng(inst.seed)
        remaining = min(until, inst.deadline) - time.perf_counter()
        self.prefer = (  # scatter gets at most half the time left, as in LaCAM3
            scatter(inst, seconds=remaining / 2, seed=inst.seed)
            if spread
            else no_scatter(inst.num_agents)
        )
        self.start = self.node(inst.starts.copy(), None, initial_priorities(inst))
        self.explored = {self.start.config.tobytes(): self.start}
        self.open: deque[Node] = deque([self.start])
        self.goal: Node | None = None

    def node(self, config: np.ndarray, parent: Node | None, priority: np.ndarray) -> Node:
        g = 0 if parent is None else parent.g + edge_cost(parent.config, config, self.inst.goals)
        return Node(config, parent, priority, g)

    def f(self, node: Node) -> int:
        """``g + h``; only pruning after the first solution needs it, so ``h`` waits till then."""
        if node.h < 0:
            node.h = int(self.inst.distances.at(node.config).sum())
        return node.g + node.h

    def run(self, deadline: float | None, await_first: bool = True) -> np.ndarray | None:
        """Searches until the first solution (``deadline`` None) or until ``deadline``; past it
        without a solution, goes on for the first one (``await_first``) or returns None."""
        goal_key = self.inst.goals.tobytes()
        iterations = 0
        while self.open:
            iterations += 1
            if (
                deadline is not None
                and (self.goal is not None or not await_first)
                and time.perf_counter() > deadline
            ):
                break
            if iterations % 64 == 0:
                if self.goal is not None and time.perf_counter() > self.inst.deadline:
                    break
                self.inst.check_time("lacam")
            node = self.open[0]
            if self.goal is not None and self.rng.random() < self.RESTART_FROM_OPEN:
                node = self.open[int(self.rng.integers(len(self.open)))]
            if self.goal is not None and self.f(node) >= self.f(self.goal):
                self.open.popleft() if node is self.open[0] else self.open.remove(node)
                continue
            if self.goal is None and node.config.tobytes() == goal_key:
                self.goal = node
                if deadline is None:
                    break
                continue
            self.expand(node)
        if self.goal is None and (await_first or not self.open):
            raise PlanningFailed("lacam: no solution exists")
        return self.solution()

    def solution(self) -> np.ndarray | None:
        """The best solution's configurations, or None before the first."""
        if self.goal is None:
            return None
        configs = []
        node = self.goal
        while node is not None:
            configs.append(node.config)
            node = node.parent
        return np.array(configs[::-1])

    def expand(self, node: Node) -> None:
        """Grows ``node``'s constraint tree by one and pushes the configuration it yields."""
        if not node.tree:
            self.open.popleft() if node is self.open[0] else self.open.remove(node)
            return
        low = node.tree.popleft()
        moves = self.inst.topology.moves
        if low.depth < self.inst.num_agents:
            i = int(node.order[low.depth])
            options = moves[node.config[i]]
            options = options[options >= 0]
            for v in self.rng.permutation(options):
                node.tree.append(Constraint(low, i, int(v), low.depth + 1))
        agents, vertices = low.arrays()
        tiebreaks = self.rng.random((self.runs, moves.shape[0]))
        ok, config = step(
            self.inst,
            self.kernel,
            node.config,
            node.order,
            tiebreaks,
            agents,
            vertices,
            self.swap,
            self.prefer,
        )
        if not ok:
            return
        known = self.explored.get(config.tobytes())
        if known is not None:
            self.rewrite(node, known)
            restart = self.rng.random() < self.RESTART_FROM_START
            self.open.appendleft(self.start if restart else known)
            return
        priority = update_priorities(node.priority, config, self.inst.goals)
        child = self.node(config, node, priority)
        self.explored[config.tobytes()] = child
        self.open.appendleft(child)

    def rewrite(self, source: Node, target: Node) -> None:
        """Adds the edge ``source -> target`` and propagates shorter costs through the graph."""
        source.neighbours.add(target)
        queue = deque([source])
        goals = self.inst.goals
        while queue:
            a = queue.popleft()
            for b in a.neighbours:
                g = a.g + edge_cost(a.config, b.config, goals)
                if g < b.g:
                    b.g, b.parent = g, a
                    queue.append(b)
                    if self.goal is not None and self.f(b) < self.f(self.goal):
                        self.open.appendleft(b)


DENSE = 0.5  # agents per vertex above which anytime refines the first solution itself
# PIBT steps per successor in an anytime search: LaCAM3's Monte-Carlo configuration generation
# (its --pibt-num, 10 by default). benchmarks/mapf_lacam3.py, 10 s budgets on its 20
# instances: sums of costs within 3.3% of LaCAM3's on all (den520d, 800 agents: 5.4% with one
# step, 4.4% with three, 3.3% with ten; median 1.002).
ANYTIME_RUNS = 10


def lacam(
    inst: Instance,
    kernel=pibt_step,
    swap: bool = True,
    runs: int | None = None,
    anytime: float | None = None,
    spread: bool | None = None,
) -> np.ndarray:
    """A solution as ``(T+1, n)`` configurations; PlanningFailed if none (or out of time).

    ``swap``: PIBT's swap operation; ``runs``: PIBT steps per successor, the best kept (by
    default one for a first solution, :data:`ANYTIME_RUNS` with ``anytime``);
    ``anytime``: seconds of LaCAM* search (bounded by the instance's time limit) after which
    the best solution is returned (the first is always awaited); None stops at the first;
    ``spread``: PIBT follows scatter paths (:mod:`metagame.agents.planners.scatter`) first:
    first solutions 1-40% cheaper, for about as much time again as the search. By default
    (None) a first solution is found without scatter, and with ``anytime`` a second LaCAM*
    search guided by scatter spends the rest of the budget, the cheaper solution returned (a
    first solution comes as fast as without scatter, a better one when time allows); on maps
    with more than :data:`DENSE` agents per vertex the first search refines its own solution
    instead: scatter has no room to spread agents there, and the guided search rarely finds a
    solution in time (random-32-32-10 with 800 agents, benchmarks/mapf_lacam3.py).
    """
    if runs is None:
        runs = 1 if anytime is None else ANYTIME_RUNS
    deadline = None if anytime is None else time.perf_counter() + anytime
    until = deadline or inst.deadline
    if spread is not None or anytime is None:
        return Search(inst, kernel, swap, runs, bool(spread), until).run(deadline)
    first = Search(inst, kernel, swap, runs, False, until)
    first.run(None)
    now = time.perf_counter()
    if now >= deadline:
        return first.solution()
    if inst.num_agents > DENSE * inst.topology.num_vertices:
        first.run(deadline)  # a packed map leaves scatter no room: refine the first solution
        return first.solution()
    guided = Search(inst, kernel, swap, runs, True, deadline)
    guided.run(deadline, await_first=False)
    return min((s for s in (first, guided) if s.goal), key=lambda s: s.goal.g).solution()
