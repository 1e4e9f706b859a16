"""Priority Inheritance with Backtracking (Okumura, Machida, Defago and Tamura, AIJ 2022), with
the swap operation of LaCAM* (Okumura, "Improving LaCAM for Scalable Eventually Optimal
Multi-Agent Pathfinding", IJCAI 2023).

One PIBT step turns a configuration into the next: agents, highest priority first, pick the
free neighbouring vertex (or stay) closest to their goal (ties broken by a random number per
vertex); an agent that picks a vertex occupied by an undecided agent lends it its priority,
and that agent must move away first or the choice is withdrawn (backtracking). Vertex and swap
conflicts never occur; rotations are allowed. Priorities grow by one each step an agent is off
its goal and drop to their fractional part when it arrives, so every agent eventually reaches
its goal at least once (Okumura et al. 2022, Thm. 1).

Plain PIBT livelocks when two agents must pass each other in a corridor: each pushes the other
back. The swap operation detects it: agent ``i``'s best vertex is held by an undecided agent
``j`` that wants ``i``'s vertex, the corridor they stand in is too narrow to pass
(:func:`_swap_required`), and walking backwards reaches a branching vertex where they can
(:func:`_swap_possible`). Then ``i`` takes its candidates in reverse order (it retreats) and
pulls ``j`` into the vertex it leaves, until the branch lets them pass. The same test, run from
one step ahead, lets ``i`` pull a neighbour ``k`` that blocks the corridor behind it ("clear",
as in push-and-swap). Dead ends holding an agent on its goal do not count as room to pass.

``pibt_step`` is the Numba kernel, reading goal distances lazily from a
:class:`~metagame.agents.planners.distances.DistanceTable`; ``pibt_step_reference`` is the same
algorithm in plain Python (lists and recursion) over a full distance matrix, used by the tests
and as the benchmark baseline. Both accept LaCAM's constraints: agents whose next vertex is
fixed in advance.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from metagame.agents.planners.distances import lazy_distance
from metagame.agents.planners.instance import Instance, PlanningFailed, trim
from metagame.agents.planners.scatter import lookup, no_scatter, scatter
from metagame.envs.mapf import maps


@njit(cache=True)
def _d(dist, moves, i, v):
    return lazy_distance(dist[0], dist[1], dist[2], dist[3], moves, i, v)


@njit(cache=True)
def _way_on(moves, occ_now, goals, pusher_at, at):
    """``(number of ways on, one of them)`` from ``at`` for an agent coming from ``pusher_at``;
    a dead end held by an agent resting on its goal is no way on."""
    num, way = 0, -1
    for a in range(1, moves.shape[1]):
        u = moves[at, a]
        if u < 0 or u == pusher_at:
            continue
        w = occ_now[u]
        if w >= 0 and goals[w] == u:
            degree = 0
            for b in range(1, moves.shape[1]):
                degree += moves[u, b] >= 0
            if degree == 1:
                continue
        num += 1
        way = u
    return num, way


@njit(cache=True)
def _swap_required(pusher, puller, at_pusher, at_puller, moves, occ_now, goals, dist):
    """Must ``puller`` (ahead, at ``at_puller``) and ``pusher`` exchange places to progress,
    and is the corridor between them too narrow to do it where they stand?"""
    while _d(dist, moves, pusher, at_puller) < _d(dist, moves, pusher, at_pusher):
        num, way = _way_on(moves, occ_now, goals, at_pusher, at_puller)
        if num >= 2:
            return False  # room to pass at at_puller
        if num <= 0:
            break
        at_pusher, at_puller = at_puller, way
    return _d(dist, moves, puller, at_pusher) < _d(dist, moves, puller, at_puller) and (
        _d(dist, moves, pusher, at_pusher) == 0
        or _d(dist, moves, pusher, at_puller) < _d(dist, moves, pusher, at_pusher)
    )


@njit(cache=True)
def _swap_possible(at_pusher, at_puller, moves, occ_now, goals):
    """Walking from ``at_puller`` away from ``at_pusher``, is a branching vertex reached?"""
    origin = at_pusher
    while at_puller != origin:
        num, way = _way_on(moves, occ_now, goals, at_pusher, at_puller)
        if num >= 2:
            return True
        if num <= 0:
            return False
        at_pusher, at_puller = at_puller, way
    return False


@njit(cache=True)
def _swap_partner(i, best, config, nxt, occ_now, moves, goals, dist):
    """The agent ``i`` should pull behind it while retreating, or -1."""
    v = config[i]
    j = occ_now[best]
    if (
        j >= 0
        and j != i
        and nxt[j] < 0
        and _swap_required(i, j, v, config[j], moves, occ_now, goals, dist)
        and _swap_possible(config[j], v, moves, occ_now, goals)
    ):
        return j
    if best != v:  # clear the way behind: emulate the swap from one step ahead
        for a in range(1, moves.shape[1]):
            u = moves[v, a]
            if u < 0:
                continue
            k = occ_now[u]
            if (
                k >= 0
                and best != config[k]
                and _swap_required(k, i, v, best, moves, occ_now, goals, dist)
                and _swap_possible(best, v, moves, occ_now, goals)
            ):
                return k
    return -1


@njit(cache=True)
def _choose(i, config, nxt, occ_now, occ_next, moves, goals, dist, tiebreak, swap, prefer):
    v = config[i]
    num = 0
    cand = np.empty(moves.shape[1], dtype=np.int64)
    key = np.empty(moves.shape[1], dtype=np.float64)
    for a in range(moves.shape[1]):
        u = moves[v, a]
        if u < 0:
            continue
        k = num
        score = _d(dist, moves, i, u) + tiebreak[u]
        while k > 0 and key[k - 1] > score:
            cand[k] = cand[k - 1]
            key[k] = key[k - 1]
            k -= 1
        cand[k] = u
        key[k] = score
        num += 1
    preferred = lookup(prefer, i, v)
    for c in range(1, num):  # the scatter path's next vertex goes first
        if cand[c] == preferred:
            cand[1 : c + 1] = cand[:c].copy()
            cand[0] = preferred
    partner = -1
    if swap:
        partner = _swap_partner(i, cand[0], config, nxt, occ_now, moves, goals, dist)
        if partner >= 0:
            cand[:num] = cand[:num][::-1].copy()
    for c in range(num):
        u = cand[c]
        if occ_next[u] >= 0:
            continue
        j = occ_now[u]
        if j >= 0 and nxt[j] == v:
            continue
        occ_next[u] = i
        nxt[i] = u
        if (
            j >= 0
            and u != v
            and nxt[j] < 0
            and not _choose(
                j, config, nxt, occ_now, occ_next, moves, goals, dist, tiebreak, swap, prefer
            )
        ):
            continue
        if c == 0 and partner >= 0 and nxt[partner] < 0 and occ_next[v] < 0:
            occ_next[v] = partner  # pull the partner into the vertex i leaves
            nxt[partner] = v
        return True
    occ_next[v] = i
    nxt[i] = v
    return False


@njit(cache=True)
def pibt_step(
    config, order, moves, goals, dist, tiebreak, fixed_agents, fixed_vertices, swap, prefer
):
    """One PIBT step: ``(ok, next_config)``; ``ok`` is False if a constraint or a top-level
    choice failed or the result has a vertex or swap conflict (then it must be discarded).
    ``dist`` is a distance table's ``arrays``; ``swap`` switches the swap operation on;
    ``prefer`` holds scatter tables (:mod:`metagame.agents.planners.scatter`)."""
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
        if nxt[i] < 0 and not _choose(
            i, config, nxt, occ_now, occ_next, moves, goals, dist, tiebreak, swap, prefer
        ):
            ok = False
    for i in range(n):  # a failed agent may have overwritten a reservation: verify
        j = occ_now[nxt[i]]
        if occ_next[nxt[i]] != i or (j >= 0 and j != i and nxt[j] == config[i]):
            ok = False
    return ok, nxt


def pibt_step_reference(
    config, order, moves, goals, dist, tiebreak, fixed_agents, fixed_vertices, swap, prefer
):
    """Plain-Python PIBT step (``dist`` a full ``(n, V)`` matrix), same results as
    :func:`pibt_step`."""
    config = [int(v) for v in config]
    nxt: list[int | None] = [None] * len(config)
    occ_now = {v: i for i, v in enumerate(config)}
    occ_next: dict[int, int] = {}
    vertices, successors, lengths = prefer
    preferred = [
        dict(zip(vertices[i, : lengths[i]].tolist(), successors[i, : lengths[i]].tolist()))
        for i in range(len(config))
    ]

    def neighbours(v: int) -> list[int]:
        return [int(u) for u in moves[v, 1:] if u >= 0]

    def ways_on(came_from: int, at: int) -> list[int]:
        return [
            u
            for u in neighbours(at)
            if u != came_from
            and not (u in occ_now and goals[occ_now[u]] == u and len(neighbours(u)) == 1)
        ]

    def swap_required(pusher: int, puller: int, at_pusher: int, at_puller: int) -> bool:
        while dist[pusher, at_puller] < dist[pusher, at_pusher]:
            ways = ways_on(at_pusher, at_puller)
            if len(ways) >= 2:
                return False
            if not ways:
                break
            at_pusher, at_puller = at_puller, ways[-1]
        return dist[puller, at_pusher] < dist[puller, at_puller] and (
            dist[pusher, at_pusher] == 0 or dist[pusher, at_puller] < dist[pusher, at_pusher]
        )

    def swap_possible(at_pusher: int, at_puller: int) -> bool:
        origin = at_pusher
        while at_puller != origin:
            ways = ways_on(at_pusher, at_puller)
            if len(ways) != 1:
                return len(ways) >= 2
            at_pusher, at_puller = at_puller, ways[0]
        return False

    def partner_of(i: int, best: int) -> int | None:
        v = config[i]
        j = occ_now.get(best)
        if (
            j is not None
            and j != i
            and nxt[j] is None
            and swap_required(i, j, v, config[j])
            and swap_possible(config[j], v)
        ):
            return j
        if best != v:
            for u in neighbours(v):
                k = occ_now.get(u)
                if (
                    k is not None
                    and best != config[k]
                    and swap_required(k, i, v, best)
                    and swap_possible(best, v)
                ):
                    return k
        return None

    def choose(i: int) -> bool:
        v = config[i]
        options = [int(u) for u in moves[v] if u >= 0]
        first = preferred[i].get(v)
        ranked = sorted(options, key=lambda u: (u != first, dist[i, u] + tiebreak[u]))
        partner = partner_of(i, ranked[0]) if swap else None
        if partner is not None:
            ranked = ranked[::-1]
        for c, u in enumerate(ranked):
            if u in occ_next:
                continue
            j = occ_now.get(u)
            if j is not None and nxt[j] == v:
                continue
            occ_next[u] = i
            nxt[i] = u
            if j is not None and u != v and nxt[j] is None and not choose(j):
                continue
            if c == 0 and partner is not None and nxt[partner] is None and v not in occ_next:
                occ_next[v] = partner
                nxt[partner] = v
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
    """Distance to goal, scaled into [0, 1): tie-breakers that favour far agents."""
    d = inst.distances.at(inst.starts)
    return d / (inst.num_agents * (d.max() + 1))


@njit(cache=True)
def best_step(
    config, order, moves, goals, dist, tiebreaks, fixed_agents, fixed_vertices, swap, prefer
):
    """LaCAM3's Monte-Carlo configuration generator: one PIBT step per row of ``tiebreaks``,
    keeping the successful one with the least ``f`` = edge cost (agents not resting on their
    goal) + sum of goal distances; ``(ok, next_config)``."""
    best_f = -1
    best = np.full(config.shape[0], -1, dtype=np.int64)
    for k in range(tiebreaks.shape[0]):
        ok, nxt = pibt_step(
            config,
            order,
            moves,
            goals,
            dist,
            tiebreaks[k],
            fixed_agents,
            fixed_vertices,
            swap,
            prefer,
        )
        if not ok:
            continue
        f = 0
        for i in range(config.shape[0]):
            f += (config[i] != goals[i]) | (nxt[i] != goals[i])
            f += _d(dist, moves, i, nxt[i])
        if best_f < 0 or f < best_f:
            best_f = f
            best = nxt
    return best_f >= 0, best


def best_step_reference(
    config, order, moves, goals, dist, tiebreaks, fixed_agents, fixed_vertices, swap, prefer
):
    """:func:`best_step` over :func:`pibt_step_reference` and a full distance matrix."""
    best_f, best = None, np.full(len(config), -1, dtype=np.int64)
    rows = np.arange(len(config))
    for tiebreak in tiebreaks:
        ok, nxt = pibt_step_reference(
            config, order, moves, goals, dist, tiebreak, fixed_agents, fixed_vertices, swap, prefer
        )
        if not ok:
            continue
        resting = (np.asarray(config) == goals) & (nxt == goals)
        f = int((~resting).sum() + dist[rows, nxt].sum())
        if best_f is None or f < best_f:
            best_f, best = f, nxt
    return best_f is not None, best


def step(
    inst: Instance, kernel, config, order, tiebreaks, fixed_agents, fixed_vertices, swap, prefer
):
    """The best of ``len(tiebreaks)`` PIBT steps (:func:`best_step`) with ``kernel``:
    :func:`pibt_step` on the lazy table, or :func:`pibt_step_reference` on the full matrix."""
    moves = inst.topology.moves
    if kernel is pibt_step_reference:
        args = (config, order, moves, inst.goals, inst.dist, tiebreaks)
        return best_step_reference(*args, fixed_agents, fixed_vertices, swap, prefer)
    args = (config, order, moves, inst.goals, inst.distances.arrays, tiebreaks)
    return best_step(*args, fixed_agents, fixed_vertices, swap, prefer)


def pibt(
    inst: Instance, max_steps: int | None = None, kernel=pibt_step, swap: bool = True
) -> np.ndarray:
    """One-shot MAPF by repeated PIBT steps (with the swap operation unless ``swap=False``);
    ``(T+1, n)`` configurations.

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
    prefer = no_scatter(inst.num_agents)
    moves = inst.topology.moves
    for _ in range(max_steps):
        if (config == inst.goals).all():
            return trim(np.array(configs), inst.goals)
        inst.check_time("pibt")
        order = np.argsort(-priority, kind="stable")
        tiebreaks = rng.random((1, moves.shape[0]))
        ok, nxt = step(inst, kernel, config, order, tiebreaks, empty, empty, swap, prefer)
        config = nxt if ok else config.copy()  # a failed step is a joint wait
        priority = update_priorities(priority, config, inst.goals)
        configs.append(config)
    if (config == inst.goals).all():
        return trim(np.array(configs), inst.goals)
    raise PlanningFailed(f"pibt: agents not all on their goals after {max_steps} steps (livelock)")


@functools.cache
def compile_kernels() -> None:
    """Runs the planner kernels once on a tiny instance, so that Numba compiles them (or loads
    them from its cache) before any time limit starts: a limit counts solving only."""
    from metagame._compile_notice import announce_compilation

    announce_compilation()  # a first run compiles for seconds: say so
    topology = maps.grid_topology(np.zeros((2, 3), dtype=bool))
    # no deadline: on a loaded machine compiling alone can outlast the default 60 s
    inst = Instance(topology, np.array([0, 2]), np.array([2, 0]), time_limit=np.inf)
    pibt(inst)
    scatter(inst)
    inst.distances.full()
