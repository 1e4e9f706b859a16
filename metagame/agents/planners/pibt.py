"""Priority Inheritance with Backtracking (Okumura, Machida, Defago and Tamura, AIJ 2022).

One PIBT step turns a configuration into the next: agents, highest priority first, pick the
free neighbouring vertex (or stay) closest to their goal (ties broken by a random number per
vertex); an agent that picks a vertex occupied by an undecided agent lends it its priority,
and that agent must move away first or the choice is withdrawn (backtracking). Vertex and swap
conflicts never occur; rotations are allowed. Priorities grow by one each step an agent is off
its goal and drop to their fractional part when it arrives, so every agent eventually reaches
its goal at least once (Okumura et al. 2022, Thm. 1). In one-shot MAPF PIBT can livelock;
LaCAM (:mod:`metagame.agents.planners.lacam`) makes it complete.

``pibt_step`` is the Numba kernel; ``pibt_step_reference`` is the same algorithm in plain
Python (lists and recursion), used by the tests and as the benchmark baseline. Both accept
LaCAM's constraints: agents whose next vertex is fixed in advance.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from metagame.agents.planners.instance import Instance, PlanningFailed, trim


@njit(cache=True)
def _choose(i, config, nxt, occ_now, occ_next, moves, dist, tiebreak):
    v = config[i]
    num = 0
    cand = np.empty(moves.shape[1], dtype=np.int64)
    key = np.empty(moves.shape[1], dtype=np.float64)
    for a in range(moves.shape[1]):
        u = moves[v, a]
        if u < 0:
            continue
        k = num
        score = dist[i, u] + tiebreak[u]
        while k > 0 and key[k - 1] > score:
            cand[k] = cand[k - 1]
            key[k] = key[k - 1]
            k -= 1
        cand[k] = u
        key[k] = score
        num += 1
    for c in range(num):
        u = cand[c]
        if occ_next[u] >= 0:
            continue
        j = occ_now[u]
        if j >= 0 and nxt[j] == v:
            continue
        occ_next[u] = i
        nxt[i] = u
        if j < 0 or u == v:
            return True
        if nxt[j] < 0 and not _choose(j, config, nxt, occ_now, occ_next, moves, dist, tiebreak):
            continue
        return True
    occ_next[v] = i
    nxt[i] = v
    return False


@njit(cache=True)
def pibt_step(config, order, moves, dist, tiebreak, fixed_agents, fixed_vertices):
    """One PIBT step: ``(ok, next_config)``; ``ok`` is False if a constraint or a top-level
    choice failed or the result has a vertex or swap conflict (then it must be discarded)."""
    n = config.shape[0]
    nxt = np.full(n, -1, dtype=np.int64)
    occ_now = np.full(moves.shape[0], -1, dtype=np.int64)
    occ_next = np.full(moves.shape[0], -1, dtype=np.int64)
    for i in range(n):
        occ_now[config[i]] = i
    for k in range(fixed_agents.shape[0]):
        i = fixed_agents[k]
        target = fixed_vertices[k]
        if occ_next[target] >= 0:
            return False, nxt
        here = occ_next[config[i]]
        if here >= 0 and here == occ_now[target]:
            return False, nxt
        nxt[i] = target
        occ_next[target] = i
    ok = True
    for i in order:
        if nxt[i] < 0 and not _choose(i, config, nxt, occ_now, occ_next, moves, dist, tiebreak):
            ok = False
    for i in range(n):  # a failed agent may have overwritten a reservation: verify
        j = occ_now[nxt[i]]
        if occ_next[nxt[i]] != i or (j >= 0 and j != i and nxt[j] == config[i]):
            ok = False
    return ok, nxt


def pibt_step_reference(config, order, moves, dist, tiebreak, fixed_agents, fixed_vertices):
    """Plain-Python PIBT step with the same results as :func:`pibt_step`."""
    config = [int(v) for v in config]
    nxt: list[int | None] = [None] * len(config)
    occ_now = {v: i for i, v in enumerate(config)}
    occ_next: dict[int, int] = {}

    def choose(i: int) -> bool:
        v = config[i]
        options = [int(u) for u in moves[v] if u >= 0]
        for u in sorted(options, key=lambda u: dist[i, u] + tiebreak[u]):
            if u in occ_next:
                continue
            j = occ_now.get(u)
            if j is not None and nxt[j] == v:
                continue
            occ_next[u] = i
            nxt[i] = u
            if j is None or u == v:
                return True
            if nxt[j] is None and not choose(j):
                continue
            return True
        occ_next[v] = i
        nxt[i] = v
        return False

    failed = np.full(len(config), -1, dtype=np.int64)
    for i, target in zip(fixed_agents, fixed_vertices):
        if target in occ_next or occ_next.get(config[i], -1) == occ_now.get(target, -2):
            return False, failed
        nxt[i] = int(target)
        occ_next[int(target)] = int(i)
    ok = True
    for i in order:
        if nxt[i] is None and not choose(int(i)):
            ok = False
    for i, u in enumerate(nxt):  # a failed agent may have overwritten a reservation: verify
        j = occ_now.get(u)
        if occ_next[u] != i or (j is not None and j != i and nxt[j] == config[i]):
            ok = False
    return ok, np.array(nxt, dtype=np.int64)


def update_priorities(priority: np.ndarray, config: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """+1 for agents off their goal; agents on it keep only the fractional part."""
    return np.where(config == goals, priority - np.floor(priority), priority + 1)


def initial_priorities(inst: Instance) -> np.ndarray:
    """Distance to goal over n: in [0, 1) tie-breakers that favour far agents."""
    n = inst.num_agents
    return inst.dist[np.arange(n), inst.starts] / (n * (inst.dist.max() + 1))


def pibt(inst: Instance, max_steps: int | None = None, kernel=pibt_step) -> np.ndarray:
    """One-shot MAPF by repeated PIBT steps; ``(T+1, n)`` configurations.

    Raises PlanningFailed if not every agent stands on its goal within ``max_steps`` (default
    ``10 * (rows + cols + n)``) or the time limit: PIBT alone is incomplete.
    """
    rng = np.random.default_rng(inst.seed)
    h, w = inst.topology.grid.shape
    max_steps = max_steps or 10 * (h + w + inst.num_agents)
    priority = initial_priorities(inst)
    config = inst.starts.copy()
    configs = [config]
    empty = np.zeros(0, dtype=np.int64)
    moves = inst.topology.moves
    for _ in range(max_steps):
        if (config == inst.goals).all():
            return trim(np.array(configs), inst.goals)
        inst.check_time("pibt")
        order = np.argsort(-priority, kind="stable")
        tiebreak = rng.random(moves.shape[0])
        ok, nxt = kernel(config, order, moves, inst.dist, tiebreak, empty, empty)
        config = nxt if ok else config.copy()  # a failed step is a joint wait
        priority = update_priorities(priority, config, inst.goals)
        configs.append(config)
    if (config == inst.goals).all():
        return trim(np.array(configs), inst.goals)
    raise PlanningFailed(f"pibt: agents not all on their goals after {max_steps} steps (livelock)")
