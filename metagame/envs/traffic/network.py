"""Road networks: a networkx DiGraph of directed links, compiled to flat arrays for the kernels.

A node is a point in the plane (attribute ``pos=(x, y)`` in metres): a junction, a merge, or a
boundary point where vehicles enter and leave. A directed edge ``(u, v)`` is a link carrying
``lanes`` parallel lanes (lane 0 is the rightmost, right-hand traffic) with a ``length`` (default:
the straight-line distance), a ``speed`` limit in m/s, a right-of-way ``priority`` (higher goes
first at unsignalised junctions) and optional ``offsets`` ``{u_prev: k}``: lane ``i`` of the link
``(u_prev, u)`` continues on lane ``i + k`` of this link (out of range: the lane ends and its
vehicles must change lanes before the end, as on an on-ramp's acceleration lane).

A *movement* is a pair of consecutive links (in-link, out-link) through a node. Two movements
of different in-links are *foes* when their paths through the node cross or merge, as in SUMO's
junction conflict matrix (the ``foes`` of its ``<request>`` elements): with the node's arms in
angular order and right-hand traffic, each arm's entry lies just counter-clockwise of its
direction and its exit just clockwise, a movement is the chord from entry to exit, and two chords
cross when exactly one end of one lies on the arc between the ends of the other
(:func:`movements_cross`); two movements into one out-link merge when they can reach a common
lane. A node with foes has a *conflict zone* ("box") of ``box_length`` metres past the stop
line: a vehicle reserves its movement before entering, and a reservation is refused while a foe
movement is held, as in reservation based intersection control (Dresner and Stone 2008);
movements that are not foes pass at once. A node with ``phases`` (a list of phases,
each a list of predecessor nodes whose links are green) is signalised.

Built-in scenarios (:func:`scenario`): ``"intersection"`` (unsignalised four-way, major east-west
road), ``"grid"`` (k x k signalised junctions), ``"highway"`` (three lanes with an on-ramp and an
acceleration lane), ``"roundabout"`` (one-lane ring with four arms). :func:`from_sumo` reads a
SUMO ``.net.xml`` through sumolib when it is installed.
"""

from __future__ import annotations

import gzip
import math
import zlib
from dataclasses import dataclass
from typing import NamedTuple
from xml.parsers import expat

import networkx as nx
import numpy as np

LANE_WIDTH = 3.5
NO_LINK = -1

# Turn classes of a connection (in-link -> out-link), from the heading change.
LEFT, STRAIGHT, RIGHT = 0, 1, 2
TURN_NAMES = ("left", "straight", "right")


@dataclass(frozen=True)
class Network:
    """A road network compiled to arrays (links, lanes, connections, conflicts, signals)."""

    graph: nx.DiGraph
    nodes: list
    node_xy: np.ndarray  # (n_nodes, 2)
    link_nodes: np.ndarray  # (n_links, 2) int32: from, to
    link_length: np.ndarray  # (n_links,)
    link_speed: np.ndarray  # (n_links,)
    link_lanes: np.ndarray  # (n_links,) int32
    link_lane0: np.ndarray  # (n_links,) int32: global id of lane 0
    link_priority: np.ndarray  # (n_links,) int32
    lane_link: np.ndarray  # (n_lanes,) int32
    lane_index: np.ndarray  # (n_lanes,) int32
    conn_offset: np.ndarray  # (n_links, n_links) int32, lane offset; big sentinel if no connection
    conn_turn: np.ndarray  # (n_links, n_links) int8: LEFT/STRAIGHT/RIGHT, -1 no connection
    conn_move: np.ndarray  # (n_links, n_links) int32: movement id of a connection, -1 none
    move_link: np.ndarray  # (n_moves,) int32: in-link of each movement
    move_out: np.ndarray  # (n_moves,) int32: out-link
    move_foe_ptr: np.ndarray  # CSR of each movement's foes (sorted)
    move_foe: np.ndarray
    node_box: np.ndarray  # (n_nodes,) bool: node has a conflict zone
    box_length: float
    source_links: np.ndarray  # links vehicles enter on
    signal_nodes: np.ndarray  # (n_signals,) node ids
    signal_phases: list  # per signal: list of arrays of green in-link ids
    node_in_ptr: np.ndarray  # CSR of in-links per node
    node_in: np.ndarray
    node_out_ptr: np.ndarray  # CSR of out-links per node
    node_out: np.ndarray
    lane_pred_ptr: np.ndarray  # CSR of lanes that continue onto each lane
    lane_pred: np.ndarray
    link_names: tuple  # per link its name (:func:`link_names`)
    link_by_name: dict  # name or alias -> link id

    @property
    def num_links(self) -> int:
        return len(self.link_length)

    @property
    def num_lanes(self) -> int:
        return len(self.lane_link)

    def link_id(self, u, v) -> int:
        return int(self.graph.edges[u, v]["id"])

    def kernel_arrays(self) -> KernelNetwork:
        """The arrays the Numba kernels read, as one :class:`KernelNetwork`."""
        return KernelNetwork(*(getattr(self, name) for name in KernelNetwork._fields))


class KernelNetwork(NamedTuple):
    """The part of a :class:`Network` the Numba kernels read (fields as in ``Network``); Numba
    takes a NamedTuple of arrays as one typed argument with named fields."""

    link_nodes: np.ndarray
    link_length: np.ndarray
    link_speed: np.ndarray
    link_lanes: np.ndarray
    link_lane0: np.ndarray
    link_priority: np.ndarray
    lane_link: np.ndarray
    lane_index: np.ndarray
    conn_offset: np.ndarray
    conn_turn: np.ndarray
    conn_move: np.ndarray
    move_link: np.ndarray
    move_out: np.ndarray
    move_foe_ptr: np.ndarray
    move_foe: np.ndarray
    node_xy: np.ndarray
    node_box: np.ndarray
    node_in_ptr: np.ndarray
    node_in: np.ndarray
    node_out_ptr: np.ndarray
    node_out: np.ndarray
    lane_pred_ptr: np.ndarray
    lane_pred: np.ndarray
    box_length: float


def _csr(groups: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(len(groups) + 1, dtype=np.int32)
    ptr[1:] = np.cumsum([len(g) for g in groups])
    flat = np.array([x for g in groups for x in g], dtype=np.int32)
    return ptr, flat


NO_CONNECTION = 1 << 20


def _turn(h_in: np.ndarray, h_out: np.ndarray) -> int:
    angle = math.atan2(h_in[0] * h_out[1] - h_in[1] * h_out[0], float(h_in @ h_out))
    if abs(angle) > 5 * math.pi / 6:
        return -1  # U-turn: never taken
    if angle > math.pi / 6:
        return LEFT
    if angle < -math.pi / 6:
        return RIGHT
    return STRAIGHT


def compile_network(graph: nx.DiGraph, box_length: float = 10.0) -> Network:
    """Validates a road graph and compiles it to arrays; raises ValueError naming the problem."""
    if not isinstance(graph, nx.DiGraph) or isinstance(graph, nx.MultiDiGraph):
        raise ValueError(f"network must be a networkx DiGraph, got {type(graph).__name__}")
    if graph.number_of_edges() == 0:
        raise ValueError("network has no links (edges)")
    graph = graph.copy()
    nodes = list(graph.nodes)
    xy = _node_positions(graph, nodes)
    edges = list(graph.edges)
    for k, (u, v) in enumerate(edges):
        graph.edges[u, v]["id"] = k
    index = {n: i for i, n in enumerate(nodes)}
    link_nodes = np.array([(index[u], index[v]) for u, v in edges], dtype=np.int32)
    length, speed, lanes, priority = _link_attributes(graph, edges, xy[link_nodes])
    lane0 = np.concatenate([[0], np.cumsum(lanes)[:-1]]).astype(np.int32)
    lane_link = np.repeat(np.arange(len(edges), dtype=np.int32), lanes)
    conn_offset, conn_turn = _connections(graph, edges, xy[link_nodes])
    conn_move, move_link, move_out = _movements(conn_turn)
    foes = _movement_foes(link_nodes, xy, conn_offset, conn_move, move_link, move_out, lanes)
    box = np.zeros(len(nodes), dtype=bool)
    box[link_nodes[move_link[[m for m, f in enumerate(foes) if f]], 1]] = True
    move_foe_ptr, move_foe = _csr(foes)
    # A link is a source when nothing but its own reverse leads into it.
    sources = np.flatnonzero(~np.any(conn_turn >= 0, axis=0)).astype(np.int32)
    if len(sources) == 0:
        raise ValueError("network has no source link (a link no other link leads into)")
    signal_nodes, signal_phases = _signals(graph, nodes)
    node_in_ptr, node_in = _csr([_link_ids(graph, graph.in_edges(v)) for v in nodes])
    node_out_ptr, node_out = _csr([_link_ids(graph, graph.out_edges(v)) for v in nodes])
    lane_pred_ptr, lane_pred = _csr(_lane_predecessors(conn_offset, conn_turn, lanes, lane0))
    names, by_name = link_names(graph, edges)
    if box_length + 5.0 > length.min():
        raise ValueError(f"box_length {box_length} m must be at least 5 m below the shortest link")
    return Network(
        graph=graph,
        nodes=nodes,
        node_xy=xy,
        link_nodes=link_nodes,
        link_length=length,
        link_speed=speed,
        link_lanes=lanes,
        link_lane0=lane0,
        link_priority=priority,
        lane_link=lane_link,
        lane_index=(np.arange(len(lane_link)) - lane0[lane_link]).astype(np.int32),
        conn_offset=conn_offset,
        conn_turn=conn_turn,
        conn_move=conn_move,
        move_link=move_link,
        move_out=move_out,
        move_foe_ptr=move_foe_ptr,
        move_foe=move_foe,
        node_box=box,
        box_length=float(box_length),
        source_links=sources,
        signal_nodes=np.array([index[v] for v in signal_nodes], dtype=np.int32),
        signal_phases=signal_phases,
        node_in_ptr=node_in_ptr,
        node_in=node_in,
        node_out_ptr=node_out_ptr,
        node_out=node_out,
        lane_pred_ptr=lane_pred_ptr,
        lane_pred=lane_pred,
        link_names=names,
        link_by_name=by_name,
    )


def link_names(graph: nx.DiGraph, edges: list) -> tuple[tuple, dict]:
    """Each link's name: its ``name`` attribute (a SUMO edge id for networks read by
    :func:`from_sumo`), else ``"u-v"`` from its end nodes (spaces dropped, so that a name is one
    token of a SUMO route's ``edges`` list); and the lookup from names and ``aliases`` (the ids
    of parallel SUMO edges merged into it) to link ids. Two links with one name are an error."""
    names = []
    by_name: dict[str, int] = {}
    for k, (u, v) in enumerate(edges):
        data = graph.edges[u, v]
        name = str(data.get("name", f"{u}-{v}")).replace(" ", "")
        names.append(name)
        for alias in (name, *data.get("aliases", ())):
            if by_name.setdefault(alias, k) != k:
                raise ValueError(f"link name {alias!r} is used by two links")
    return tuple(names), by_name


def _node_positions(graph: nx.DiGraph, nodes: list) -> np.ndarray:
    """``(n_nodes, 2)`` coordinates from each node's ``pos``."""
    xy = np.zeros((len(nodes), 2))
    for k, n in enumerate(nodes):
        pos = graph.nodes[n].get("pos")
        if pos is None or len(pos) != 2 or not np.all(np.isfinite(pos)):
            raise ValueError(f"node {n!r} needs a finite 'pos' attribute (x, y)")
        xy[k] = pos
    return xy


def _link_attributes(graph: nx.DiGraph, edges: list, ends: np.ndarray) -> tuple:
    """Length (default: the distance between the link's ``ends``), speed limit, lane count
    and priority of every link, checked."""
    length = np.zeros(len(edges))
    speed = np.zeros(len(edges))
    lanes = np.zeros(len(edges), dtype=np.int32)
    priority = np.zeros(len(edges), dtype=np.int32)
    for k, (u, v) in enumerate(edges):
        data = graph.edges[u, v]
        length[k] = float(data.get("length", np.hypot(*(ends[k, 1] - ends[k, 0]))))
        speed[k] = float(data.get("speed", 13.89))
        lanes[k] = int(data.get("lanes", 1))
        priority[k] = int(data.get("priority", 0))
        if not length[k] >= 20.0:
            raise ValueError(f"link {(u, v)!r} has length {length[k]:.1f} m; links need >= 20 m")
        if not 0.0 < speed[k] <= 70.0:
            raise ValueError(f"link {(u, v)!r} has speed limit {speed[k]} m/s; need (0, 70]")
        if lanes[k] < 1:
            raise ValueError(f"link {(u, v)!r} has {lanes[k]} lanes; need >= 1")
    return length, speed, lanes, priority


def _connections(graph: nx.DiGraph, edges: list, ends: np.ndarray) -> tuple:
    """``conn_offset`` and ``conn_turn`` of every pair of consecutive links (U-turns are no
    connection); the turn from the change of heading, the offset from the out-link's
    ``offsets``."""
    n_links = len(edges)
    conn_offset = np.full((n_links, n_links), NO_CONNECTION, dtype=np.int32)
    conn_turn = np.full((n_links, n_links), -1, dtype=np.int8)
    heading = ends[:, 1] - ends[:, 0]
    heading /= np.maximum(np.hypot(heading[:, 0], heading[:, 1]), 1e-9)[:, None]
    for a, (u, v) in enumerate(edges):
        for w in graph.successors(v):
            b = graph.edges[v, w]["id"]
            turn = _turn(heading[a], heading[b])
            if turn >= 0:
                conn_turn[a, b] = turn
                conn_offset[a, b] = int(graph.edges[v, w].get("offsets", {}).get(u, 0))
    return conn_offset, conn_turn


def _movements(conn_turn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Movement ids of the connections (``conn_move``), and each movement's in- and out-link."""
    move_link, move_out = np.nonzero(conn_turn >= 0)
    conn_move = np.full(conn_turn.shape, -1, dtype=np.int32)
    conn_move[move_link, move_out] = np.arange(len(move_link))
    return conn_move, move_link.astype(np.int32), move_out.astype(np.int32)


def arm_angles(link_nodes, xy, move_link, move_out) -> tuple[np.ndarray, np.ndarray]:
    """Per movement, the angles (radians) of its entry and exit points on a circle around its
    node: an in-link's arm points back to its start node, and with right-hand traffic its
    entry lies ``EPS`` counter-clockwise of the arm; an out-link's exit ``EPS`` clockwise."""
    node = link_nodes[move_link, 1]
    back = xy[link_nodes[move_link, 0]] - xy[node]
    ahead = xy[link_nodes[move_out, 1]] - xy[node]
    entry = np.arctan2(back[:, 1], back[:, 0]) + ARM_EPS
    exit_ = np.arctan2(ahead[:, 1], ahead[:, 0]) - ARM_EPS
    return entry % (2 * np.pi), exit_ % (2 * np.pi)


ARM_EPS = 1e-3  # radians between an arm's entry or exit and its direction


def movements_cross(entry_a, exit_a, entry_b, exit_b) -> bool:
    """Chords (entry_a, exit_a) and (entry_b, exit_b) of a circle, given by angles, cross:
    exactly one end of b lies strictly inside the counter-clockwise arc from entry_a to
    exit_a."""
    span = (exit_a - entry_a) % (2 * np.pi)
    inside = [0.0 < (x - entry_a) % (2 * np.pi) < span for x in (entry_b, exit_b)]
    return inside[0] != inside[1]


def _movement_foes(link_nodes, xy, conn_offset, conn_move, move_link, move_out, lanes):
    """Per movement, the sorted movements of other in-links at its node that cross it
    (:func:`movements_cross`) or merge with it into a lane both can reach."""
    entry, exit_ = arm_angles(link_nodes, xy, move_link, move_out)
    node = link_nodes[move_link, 1]
    foes: list[list[int]] = [[] for _ in range(len(move_link))]
    for m in range(len(move_link)):
        for f in np.flatnonzero((node == node[m]) & (move_link != move_link[m])):
            if move_out[f] == move_out[m]:
                o = move_out[m]
                reach_m = {i + conn_offset[move_link[m], o] for i in range(lanes[move_link[m]])}
                reach_f = {i + conn_offset[move_link[f], o] for i in range(lanes[move_link[f]])}
                clash = bool(reach_m & reach_f & set(range(lanes[o])))
            else:
                clash = movements_cross(entry[m], exit_[m], entry[f], exit_[f])
            if clash:
                foes[m].append(int(f))
    return foes


def _signals(graph: nx.DiGraph, nodes: list) -> tuple[list, list]:
    """The signalised nodes (those with ``phases``) and, per node, its phases as arrays of
    green in-link ids."""
    signal_nodes, signal_phases = [], []
    for v in nodes:
        phases = graph.nodes[v].get("phases")
        if phases is None:
            continue
        for phase in phases:
            for u in phase:
                if not graph.has_edge(u, v):
                    raise ValueError(f"signal at {v!r}: phase names {u!r}, which has no link to it")
        if len(phases) < 2:
            raise ValueError(f"signal at {v!r} needs at least two phases, got {len(phases)}")
        signal_nodes.append(v)
        signal_phases.append(
            [np.array(_link_ids(graph, [(u, v) for u in p]), dtype=np.int32) for p in phases]
        )
    return signal_nodes, signal_phases


def _link_ids(graph: nx.DiGraph, edges) -> list[int]:
    return [graph.edges[e]["id"] for e in edges]


def _lane_predecessors(conn_offset, conn_turn, lanes, lane0) -> list[list[int]]:
    """Per lane, the lanes that continue onto it."""
    preds: list[list[int]] = [[] for _ in range(int(lanes.sum()))]
    for a, b in zip(*np.nonzero(conn_turn >= 0)):
        for i in range(lanes[a]):
            j = i + conn_offset[a, b]
            if 0 <= j < lanes[b]:
                preds[lane0[b] + j].append(int(lane0[a] + i))
    return preds


def _two_way(g: nx.DiGraph, a, b, **attrs) -> None:
    g.add_edge(a, b, **attrs)
    g.add_edge(b, a, **attrs)


def intersection(arm: float = 120.0, speed: float = 12.0) -> nx.DiGraph:
    """Unsignalised four-way junction; the east-west road has priority over north-south."""
    g = nx.DiGraph()
    g.add_node("c", pos=(0.0, 0.0))
    for name, pos, major in [
        ("e", (arm, 0.0), 1),
        ("n", (0.0, arm), 0),
        ("w", (-arm, 0.0), 1),
        ("s", (0.0, -arm), 0),
    ]:
        g.add_node(name, pos=pos)
        _two_way(g, name, "c", speed=speed, priority=major)
    return g


def grid(size: int = 3, spacing: float = 150.0, speed: float = 13.89, lanes: int = 2) -> nx.DiGraph:
    """``size`` x ``size`` signalised junctions (phases north-south, east-west), boundary arms."""
    if size < 1:
        raise ValueError(f"grid size must be >= 1, got {size}")
    g = nx.DiGraph()
    inside = [(i, j) for i in range(size) for j in range(size)]
    boundary = [(i, j) for k in range(size) for i, j in ((-1, k), (size, k), (k, -1), (k, size))]
    for i, j in inside + boundary:
        g.add_node((i, j), pos=(j * spacing, -i * spacing))
    for i, j in inside:
        for nb in ((i, j + 1), (i + 1, j), (i, j - 1), (i - 1, j)):
            if nb in g.nodes:
                _two_way(g, nb, (i, j), speed=speed, lanes=lanes)
        g.nodes[(i, j)]["phases"] = [[(i - 1, j), (i + 1, j)], [(i, j - 1), (i, j + 1)]]
    return g


def highway(length: float = 2000.0, speed: float = 30.0, lanes: int = 3) -> nx.DiGraph:
    """A one-way multi-lane road with an on-ramp merging through a 200 m acceleration lane."""
    g = nx.DiGraph()
    merge = 0.3 * length
    g.add_node("start", pos=(0.0, 0.0))
    g.add_node("merge", pos=(merge, 0.0))
    g.add_node("lane_drop", pos=(merge + 200.0, 0.0))
    g.add_node("end", pos=(length, 0.0))
    g.add_node("ramp", pos=(merge - 200.0, -40.0))
    g.add_edge("start", "merge", speed=speed, lanes=lanes)
    g.add_edge("ramp", "merge", speed=0.7 * speed, lanes=1)
    g.add_edge("merge", "lane_drop", speed=speed, lanes=lanes + 1, offsets={"start": 1, "ramp": 0})
    g.add_edge("lane_drop", "end", speed=speed, lanes=lanes, offsets={"merge": -1})
    return g


def roundabout(radius: float = 40.0, arm: float = 120.0, speed: float = 10.0) -> nx.DiGraph:
    """A one-lane counter-clockwise ring with four two-way arms; the ring has priority."""
    g = nx.DiGraph()
    ring = [f"r{k}" for k in range(8)]
    for k, name in enumerate(ring):
        angle = k * math.pi / 4
        g.add_node(name, pos=(radius * math.cos(angle), radius * math.sin(angle)))
    for k in range(8):
        g.add_edge(ring[k], ring[(k + 1) % 8], speed=speed, priority=1)
    for k in range(0, 8, 2):
        angle = k * math.pi / 4
        outer = f"a{k // 2}"
        g.add_node(outer, pos=((radius + arm) * math.cos(angle), (radius + arm) * math.sin(angle)))
        _two_way(g, outer, ring[k], speed=speed + 4.0, priority=0)
    return g


SCENARIOS = {
    "intersection": intersection,
    "grid": grid,
    "highway": highway,
    "roundabout": roundabout,
}


def from_sumo(path: str, box_length: float = 10.0) -> Network:
    """Reads a SUMO ``.net.xml`` (plain or gzip) with sumolib's network reader, fed by an expat
    parser that refuses entities (:func:`parse_refusing_entities`); a file that is not
    well-formed, is cut short, declares entities or is not a network is a ValueError naming
    it. Kept: junctions with their coordinates, and every normal edge that admits passenger
    cars as a link with its lane count, speed limit, priority and length (at least 20 m, plus
    the mean length of the paths through the junction before it, :func:`_sumo_crossings`).
    Internal, pedestrian and bicycle-only edges are no links, and of parallel edges between the
    same two junctions the one with the most lanes is kept. A traffic light's latest program
    becomes the junction's ``phases``: one per green phase (yellow phases are dropped), each
    the approaches with a green (``G`` or ``g``) link."""
    try:
        import sumolib
    except ImportError as err:
        raise ValueError(
            f"loading {path!r} needs sumolib (pip install sumolib), which is not installed"
        ) from err
    reader = sumolib.net.NetReader(withInternal=True, withLatestPrograms=True)
    try:
        parse_refusing_entities(path, reader)
    # Expat's syntax errors; a gzip stream that is corrupt or cut short; what sumolib's reader
    # raises on elements that are well-formed but not a network (a missing or non-numeric
    # attribute, a <lane> outside an <edge>, a connection naming an unknown edge).
    except (
        OSError,
        EOFError,
        zlib.error,
        expat.ExpatError,
        LookupError,  # KeyError, or an unknown encoding in the XML declaration
        ValueError,
        AttributeError,
        TypeError,
        IndexError,
    ) as err:
        detail = f"missing attribute or unknown id {err}" if isinstance(err, KeyError) else err
        raise ValueError(f"cannot read SUMO network {path!r}: {detail}") from err
    try:
        return compile_network(_sumo_graph(reader.getNet()), box_length)
    except ValueError as err:
        raise ValueError(f"SUMO network {path!r}: {err}") from err


def _sumo_graph(net) -> nx.DiGraph:
    """The road graph of a sumolib network (see :func:`from_sumo` for what is kept)."""
    g = nx.DiGraph()
    for node in net.getNodes():
        if node.getCoord3D() is None:  # sumolib leaves it None
            raise ValueError(f"junction {node.getID()!r} is used by an edge but never defined")
        g.add_node(node.getID(), pos=node.getCoord())
    for edge in net.getEdges():
        if edge.getFunction() != "" or not edge.allows("passenger"):
            continue
        if edge.getFromNode() is None or edge.getToNode() is None:
            raise ValueError(f"edge {edge.getID()!r} lacks its from or to junction")
        u, v = edge.getFromNode().getID(), edge.getToNode().getID()
        aliases = [edge.getID()]
        if g.has_edge(u, v):  # parallel edges: the one with the most lanes, named by all
            aliases += g.edges[u, v]["aliases"]
            g.edges[u, v]["aliases"] = aliases
            if g.edges[u, v]["lanes"] >= edge.getLaneNumber():
                continue
        g.add_edge(
            u,
            v,
            length=max(edge.getLength(), 20.0),
            speed=edge.getSpeed(),
            lanes=edge.getLaneNumber(),
            priority=edge.getPriority(),
            name=edge.getID(),
            aliases=aliases,
        )
    _sumo_lane_offsets(net, g)
    _sumo_crossings(net, g)
    for tls in net.getTrafficLights():
        for junction, phases in _sumo_phases(tls, g).items():
            if len(phases) >= 2:
                g.nodes[junction]["phases"] = phases
    return g


def _kept_connections(net, g: nx.DiGraph):
    """SUMO's connections between consecutive kept links ``(u, v)`` and ``(v, w)``: yields
    ``u, v, w`` and the list of their lane-to-lane connections."""
    for edge in net.getEdges():
        if edge.getFromNode() is None or edge.getToNode() is None:
            continue
        u, v = edge.getFromNode().getID(), edge.getToNode().getID()
        if not g.has_edge(u, v) or g.edges[u, v]["name"] != edge.getID():
            continue
        for target, connections in edge.getOutgoing().items():
            if target.getToNode() is None:
                continue
            w = target.getToNode().getID()
            if g.has_edge(v, w) and g.edges[v, w]["name"] == target.getID() and connections:
                yield u, v, w, connections


def _sumo_lane_offsets(net, g: nx.DiGraph) -> None:
    """Sets each kept link's ``offsets`` from SUMO's lane-to-lane connections: per pair of
    consecutive kept edges, the most common ``toLane - fromLane`` (ties: the smallest shift),
    so that a turn SUMO allows only from some lanes ends the others there (their vehicles
    change lanes before the junction, as in SUMO)."""
    for u, v, w, connections in _kept_connections(net, g):
        shifts = [c.getToLane().getIndex() - c.getFromLane().getIndex() for c in connections]
        best = min(set(shifts), key=lambda k: (-shifts.count(k), abs(k), k))
        g.edges[v, w].setdefault("offsets", {})[u] = best


def _sumo_crossings(net, g: nx.DiGraph) -> None:
    """Lengthens each kept link by the mean length of the paths through the junction before
    it (SUMO's internal lanes, :func:`_via_length`) of the connections into it from kept
    links: SUMO's vehicles drive those metres (its route lengths count them), and this
    link's first metres are where the conflict zone of that junction lies."""
    crossings: dict = {}
    for _, v, w, connections in _kept_connections(net, g):
        crossings.setdefault((v, w), []).extend(_via_length(net, c) for c in connections)
    for link, lengths in crossings.items():
        g.edges[link]["length"] += sum(lengths) / len(lengths)


def _via_length(net, connection) -> float:
    """The length of a connection's path through its junction: the chain of internal lanes
    from its ``via`` lane on (0 without one)."""
    length, via, seen = 0.0, connection.getViaLaneID(), set()
    while via and via not in seen:
        seen.add(via)
        try:
            lane = net.getLane(via)
        except KeyError as err:
            raise ValueError(f"a connection goes via an unknown lane {via!r}") from err
        length += lane.getLength()
        outgoing = lane.getOutgoing()
        via = outgoing[0].getViaLaneID() if outgoing else ""
    return length


def parse_refusing_entities(path, handler) -> None:
    """Feeds the XML file at ``path`` (plain or gzip) to a SAX content handler through expat
    with document type declarations and entities refused, so that no entity is expanded: an
    "entity bomb" (nested entities that expand exponentially) and external entities (which
    read other files) are errors. SUMO files declare no document type. defusedxml does the
    same for the standard library's parsers; it is not a dependency, so this is the stdlib
    parser set up likewise."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_entity
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.StartElementHandler = handler.startElement
    parser.EndElementHandler = handler.endElement
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        parser.ParseFile(gzip.GzipFile(fileobj=raw) if gzipped else raw)
    handler.endDocument()


def _refuse_entity(name, *_) -> None:
    raise ValueError(f"XML entity {name!r}: entities are refused (SUMO files declare none)")


def _refuse_doctype(name, *_) -> None:
    raise ValueError(
        f"XML DOCTYPE {name!r}: document types, and the entities they declare, are refused "
        "(SUMO files declare none)"
    )


def _sumo_phases(tls, graph: nx.DiGraph) -> dict[str, list[list]]:
    """The distinct green phases of a SUMO traffic light's latest program, for each junction it
    controls: each phase the sorted approaches (predecessor junctions) with a green link."""
    programs = list(tls.getPrograms().values())
    links: dict[str, list] = {}  # junction -> [(approach, link index)]
    for lane, _, link in tls.getConnections():
        edge = lane.getEdge()
        if edge.getFromNode() is None or edge.getToNode() is None:
            raise ValueError(f"edge {edge.getID()!r} lacks its from or to junction")
        u, v = edge.getFromNode().getID(), edge.getToNode().getID()
        if graph.has_edge(u, v):
            links.setdefault(v, []).append((u, link))
    result: dict[str, list[list]] = {}
    for junction, approaches in links.items():
        phases: list[list] = []
        for phase in programs[-1].getPhases() if programs else []:
            state = phase.state
            if "y" in state.lower():
                continue
            green = sorted({u for u, k in approaches if k < len(state) and state[k] in "Gg"})
            if green and green not in phases:
                phases.append(green)
        result[junction] = phases
    return result
