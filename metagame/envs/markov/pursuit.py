"""Pursuit-evasion on a graph: k pursuers chase one evader with simultaneous moves.

Every player stands on a node of an undirected networkx graph and, each step, stays (action 0)
or moves to its i-th neighbour in sorted order (action i); actions beyond a node's degree are
masked. The evader is captured when, after the joint move, a pursuer stands on its node or a
pursuer and the evader crossed the same edge in opposite directions; capture ends the episode
with +1 to every pursuer and -1 to the evader (zero-sum between the two sides; the pursuers
form one team, see ``Tabular.teams``). With discount gamma the value of a start is the
discounted capture time ``E[gamma^t]`` under optimal play (cops-and-robber with simultaneous
moves; Nowakowski & Winkler 1983 for the alternating version).

States: the pursuers' and the evader's nodes, ``n^(k+1)`` of them, plus one terminal state.
The observation is the vector of node indices ``[p_1, ..., p_k, e]`` (``-1`` when captured).

Actions beyond a node's degree raise ``ValueError`` (never replaced by a wait), as everywhere in
metagame. PettingZoo's test tools sample actions without the mask, so run them on a regular graph
(``cycle:n``, ``complete:n``, ``petersen``), where every action is legal; :func:`parallel_env`
and :func:`env` follow PettingZoo's module convention (``max_cycles`` is the horizon) for
``max_cycles_test``.
"""

from __future__ import annotations

import itertools
from typing import Any

import networkx as nx
import numpy as np

from metagame.envs.markov.base import MarkovGameEnv, transition_matrix


def make_graph(graph: Any) -> nx.Graph:
    """A networkx graph from a graph, an edge list, or a spec such as ``"grid:3x3"``,
    ``"cycle:6"``, ``"path:4"``, ``"complete:4"`` or ``"petersen"``."""
    if isinstance(graph, nx.Graph):
        g = nx.Graph(graph)
    elif isinstance(graph, str):
        g = _graph_from_spec(graph)
    else:
        try:
            g = nx.Graph([tuple(e) for e in graph])
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"graph must be a networkx graph, a spec or an edge list ({err})"
            ) from None
    if g.number_of_nodes() < 2:
        raise ValueError(f"graph needs at least 2 nodes, got {g.number_of_nodes()}")
    if not nx.is_connected(g):
        raise ValueError("graph must be connected")
    return g


SPECS = "grid:RxC, cycle:n, path:n, complete:n, star:n or petersen"


def _graph_from_spec(spec: str) -> nx.Graph:
    kind, _, arg = spec.partition(":")
    sizes = arg.split("x") if kind == "grid" else [arg] if arg else []
    expected = {"grid": 2, "cycle": 1, "path": 1, "complete": 1, "star": 1, "petersen": 0}
    if kind not in expected or len(sizes) != expected[kind]:
        raise ValueError(f"unknown graph spec {spec!r}; use {SPECS}")
    if not all(x.isdigit() and int(x) > 0 for x in sizes):
        raise ValueError(f"graph spec {spec!r}: sizes must be positive integers; use {SPECS}")
    n = [int(x) for x in sizes]
    if kind == "grid":
        return nx.grid_2d_graph(*n)
    if kind == "petersen":
        return nx.petersen_graph()
    return getattr(nx, f"{kind}_graph")(*n)


MAX_STATES = 2_000_000  # the tabular export holds every joint position


class PursuitEvasionEnv(MarkovGameEnv):
    """k pursuers and one evader on a graph (see the module docstring).

    Args:
        graph: networkx graph, edge list, or spec string (default a 3x3 grid).
        num_pursuers: k.
        pursuer_starts, evader_start: start node indices (in ``sorted(graph.nodes)`` order);
            when omitted, a start is drawn uniformly among positions without capture.
        horizon: steps after which an episode is truncated. gamma: discount for the solvers.
    """

    def __init__(
        self,
        graph: Any = "grid:3x3",
        num_pursuers: int = 1,
        pursuer_starts: Any = None,
        evader_start: int | None = None,
        horizon: int = 50,
        gamma: float = 0.95,
        render_mode: str | None = None,
    ):
        g = make_graph(graph)
        if not isinstance(num_pursuers, int | np.integer) or num_pursuers < 1:
            raise ValueError(f"num_pursuers must be a positive integer, got {num_pursuers!r}")
        if not isinstance(horizon, int | np.integer) or horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must lie in (0, 1], got {gamma}")
        self.graph = g
        self.nodes = sorted(g.nodes)
        index = {v: i for i, v in enumerate(self.nodes)}
        n, k = len(self.nodes), int(num_pursuers)
        if (k + 1) * np.log(max(n, 1)) > np.log(MAX_STATES):  # never forms n ** (k + 1)
            raise ValueError(
                f"{n} nodes and {k} pursuers give {n}^{k + 1} states; at most {MAX_STATES}"
            )
        self.neighbors = [sorted(index[u] for u in g.neighbors(v)) for v in self.nodes]
        A = 1 + max(len(nb) for nb in self.neighbors)
        # dest[v, a]: node reached from v by action a (illegal actions stay)
        dest = np.repeat(np.arange(n)[:, None], A, axis=1)
        legal = np.zeros((n, A), dtype=np.int8)
        legal[:, 0] = 1
        for v, nb in enumerate(self.neighbors):
            dest[v, 1 : 1 + len(nb)] = nb
            legal[v, 1 : 1 + len(nb)] = 1
        P = k + 1
        S = n**P + 1
        end = S - 1
        pos = np.array(list(itertools.product(range(n), repeat=P)), dtype=np.int64)  # (n^P, P)
        joint = np.array(list(itertools.product(range(A), repeat=P)), dtype=np.int64)
        new = dest[pos[:, None, :], joint[None, :, :]]  # (n^P, A^P, P)
        caught = (new[..., :k] == new[..., k:]).any(-1) | (
            (new[..., :k] == pos[:, None, k:]) & (pos[:, None, :k] == new[..., k:])
        ).any(-1)
        succ = np.where(caught, end, np.ravel_multi_index(tuple(np.moveaxis(new, -1, 0)), (n,) * P))
        succ = np.concatenate([succ, np.full((1, A**P), end)]).reshape(-1, 1)
        rewards = np.zeros((P, S) + (A,) * P)
        r = caught.astype(np.float64).reshape((n**P,) + (A,) * P)
        rewards[:k, :end] = r
        rewards[k, :end] = -r
        obs = np.concatenate([pos, np.full((1, P), -1)]).astype(np.float64)
        masks = [np.concatenate([legal[pos[:, i]], np.ones((1, A), np.int8)]) for i in range(P)]
        start = _start_distribution(pursuer_starts, evader_start, pos, k, n)
        terminal = np.zeros(S, dtype=bool)
        terminal[end] = True
        self.num_pursuers = k
        # the league's roles: the pursuers are one team, the evader the other
        self.agent_roles = {f"pursuer_{i}": "pursuer" for i in range(k)} | {"evader_0": "evader"}
        self._dest = dest
        self._caught_at: np.ndarray | None = None  # everyone's node at the capture, for drawing
        self._set_model(
            [f"pursuer_{i}" for i in range(k)] + ["evader_0"],
            rewards,
            transition_matrix(succ, np.ones_like(succ, dtype=np.float64), S),
            np.append(start, 0.0),
            terminal,
            obs,
            masks=masks,
            gamma=gamma,
            max_steps=int(horizon),
            render_mode=render_mode,
        )

    def step(self, actions: dict):
        before = self._obs[self._state].astype(int)
        out = super().step(actions)
        if self._terminal[self._state] and (before >= 0).all():  # the capture just happened
            self._caught_at = self._dest[before, list(self._last)]
        return out

    def _frame(self) -> np.ndarray:
        from metagame.envs.markov.render import draw_graph

        positions = self._obs[self._state].astype(int)
        captured = bool(self._terminal[self._state])
        if captured and self._caught_at is not None:
            positions = self._caught_at  # where everyone moved to when the evader was caught
        return draw_graph(self.graph, self.nodes, positions, self.num_pursuers, captured)


def _start_distribution(pursuer_starts, evader_start, pos, k, n) -> np.ndarray:
    """Initial distribution over the non-terminal states ``pos``."""
    if pursuer_starts is None and evader_start is None:
        free = ~(pos[:, :k] == pos[:, k:]).any(1)
        return free / free.sum()
    if pursuer_starts is None or evader_start is None:
        raise ValueError("give both pursuer_starts and evader_start, or neither")
    starts = [int(x) for x in np.atleast_1d(pursuer_starts)] + [int(evader_start)]
    if len(starts) != k + 1 or not all(0 <= x < n for x in starts):
        raise ValueError(
            f"pursuer_starts must be {k} node indices and evader_start one, all in 0..{n - 1}"
        )
    if starts[k] in starts[:k]:
        raise ValueError("the evader cannot start on a pursuer's node")
    start = np.zeros(len(pos))
    start[np.ravel_multi_index(starts, (n,) * (k + 1))] = 1.0
    return start


def parallel_env(max_cycles: int = 50, **kwargs: Any) -> PursuitEvasionEnv:
    """PettingZoo's module convention: the Parallel env with ``horizon=max_cycles``."""
    return PursuitEvasionEnv(horizon=max_cycles, **kwargs)


def env(max_cycles: int = 50, **kwargs: Any):
    """PettingZoo's module convention: the AEC form of :func:`parallel_env`."""
    from pettingzoo.utils.conversions import parallel_to_aec

    return parallel_to_aec(parallel_env(max_cycles, **kwargs))
