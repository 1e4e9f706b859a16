"""MAPF maps: Moving AI ``.map``/``.scen`` files, generators, and the vertex graph they define.

A map becomes a :class:`Topology`: the free cells (or graph nodes) numbered ``0..V-1``, their
``(row, col)`` cells, and a move table ``moves[v, a]`` giving the vertex reached by action ``a``
(``-1`` where the move is impossible). On grids the actions are ``0 wait, 1 up, 2 down, 3 left,
4 right`` (4-connected). Any undirected networkx graph can serve as the map (general-graph
MAPF): nodes that are ``(row, col)`` integer pairs keep those cells (and, if every edge joins
4-adjacent cells, the grid actions); otherwise action ``k >= 1`` moves to the ``k``-th
neighbour in node order and nodes are laid out row by row for observations and drawing.

Moving AI format (Sturtevant, "Benchmarks for Grid-Based Pathfinding", 2012; Stern et al.,
"Multi-Agent Pathfinding: Definitions, Variants, and Benchmarks", SoCS 2019): a header
``type/height/width/map`` and ``height`` rows of terrain. Passable terrain: ``.`` (ground),
``G`` (ground) and ``S`` (swamp); blocked: ``@``/``O`` (out of bounds), ``T`` (trees) and
``W`` (water). In ``.scen`` rows ``bucket map width height start_x start_y goal_x goal_y
optimal_length``, x is the column and y the row; the stored octile lengths are ignored and
distances are recomputed by BFS over 4-connected moves.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
from numba import njit

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "mapf"
PASSABLE = frozenset(".GS")
BLOCKED = frozenset("@OTW")
ACTIONS = ("wait", "up", "down", "left", "right")
# (d_row, d_col) of each grid action.
DELTAS = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.int64)
UNREACHABLE = np.iinfo(np.int32).max // 2


@dataclass(frozen=True)
class Topology:
    """The vertex graph of a map.

    ``grid`` (H, W) bool, True = blocked (no vertex); ``cells`` (V, 2) (row, col) of each
    vertex; ``index`` (H, W) vertex at each cell or -1; ``moves`` (V, A) vertex after each
    action or -1 (``moves[:, 0]`` is the vertex itself); ``component`` (V,) connected
    component label of each vertex.
    """

    grid: np.ndarray
    cells: np.ndarray
    index: np.ndarray
    moves: np.ndarray
    component: np.ndarray

    @property
    def num_vertices(self) -> int:
        return int(self.cells.shape[0])

    @property
    def num_actions(self) -> int:
        return int(self.moves.shape[1])

    def vertices(self, cells: np.ndarray, what: str = "cells") -> np.ndarray:
        """Vertex ids of ``(n, 2)`` (row, col) cells; ValueError if one is blocked or outside."""
        cells = np.asarray(cells)
        if cells.ndim != 2 or cells.shape[1] != 2 or not np.issubdtype(cells.dtype, np.integer):
            raise ValueError(f"{what} must be an integer array of shape (n, 2), got {cells.shape}")
        h, w = self.grid.shape
        rows, cols = cells[:, 0], cells[:, 1]
        inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
        if not inside.all():
            bad = cells[np.argmin(inside)].tolist()
            raise ValueError(f"{what}: cell {bad} lies outside the {h}x{w} map")
        v = self.index[rows, cols]
        if (v < 0).any():
            raise ValueError(f"{what}: cell {cells[np.argmin(v >= 0)].tolist()} is blocked")
        return v.astype(np.int64)

    def distances(self, source: int) -> np.ndarray:
        """BFS distance from ``source`` to every vertex (``UNREACHABLE`` where none)."""
        return bfs_distances(self.moves, source)


@njit(cache=True)
def _flood(moves, source, values, unset, step, queue):
    """Breadth-first search from ``source`` (its value already set) over the move table: every
    vertex still ``unset`` that is first reached from ``v`` gets ``values[v] + step``."""
    queue[0] = source
    head, tail = 0, 1
    while head < tail:
        v = queue[head]
        head += 1
        for a in range(1, moves.shape[1]):
            u = moves[v, a]
            if u >= 0 and values[u] == unset:
                values[u] = values[v] + step
                queue[tail] = u
                tail += 1


@njit(cache=True)
def bfs_distances(moves: np.ndarray, source: int) -> np.ndarray:
    """Hop distances from ``source`` over the move table (undirected graphs: also *to* it)."""
    dist = np.full(moves.shape[0], UNREACHABLE, dtype=np.int32)
    dist[source] = 0
    _flood(moves, source, dist, UNREACHABLE, 1, np.empty(moves.shape[0], dtype=np.int64))
    return dist


@njit(cache=True)
def components(moves: np.ndarray) -> np.ndarray:
    """Connected-component label of every vertex (labels 0, 1, ... in vertex order)."""
    num_vertices = moves.shape[0]
    label = np.full(num_vertices, -1, dtype=np.int32)
    queue = np.empty(num_vertices, dtype=np.int64)
    current = 0
    for s in range(num_vertices):
        if label[s] < 0:
            label[s] = current
            _flood(moves, s, label, -1, 0, queue)
            current += 1
    return label


def grid_topology(grid: np.ndarray) -> Topology:
    """The 4-connected grid graph of a boolean map (True = blocked)."""
    grid = as_grid(grid)
    h, w = grid.shape
    cells = np.argwhere(~grid).astype(np.int64)
    index = np.full((h, w), -1, dtype=np.int64)
    index[cells[:, 0], cells[:, 1]] = np.arange(len(cells))
    target = cells[:, None, :] + DELTAS[None, :, :]
    inside = (
        (target[..., 0] >= 0) & (target[..., 0] < h) & (target[..., 1] >= 0) & (target[..., 1] < w)
    )
    moves = np.full((len(cells), len(DELTAS)), -1, dtype=np.int64)
    rows = np.clip(target[..., 0], 0, h - 1)
    cols = np.clip(target[..., 1], 0, w - 1)
    moves[inside] = index[rows, cols][inside]
    return Topology(grid, cells, index, moves, components(moves))


def graph_topology(graph: nx.Graph) -> Topology:
    """The topology of an undirected networkx graph (see the module docstring)."""
    if graph.is_directed():
        raise ValueError("map: a directed graph is not supported; pass an undirected nx.Graph")
    if graph.number_of_nodes() == 0:
        raise ValueError("map: the graph has no nodes")
    nodes = sorted(graph.nodes, key=repr)
    node_id = {node: i for i, node in enumerate(nodes)}
    is_cell = all(
        isinstance(n, tuple) and len(n) == 2 and all(isinstance(x, int | np.integer) for x in n)
        for n in nodes
    )
    if is_cell and min(min(n) for n in nodes) >= 0:
        cells = np.array(nodes, dtype=np.int64)
    else:
        is_cell = False
        width = int(np.ceil(np.sqrt(len(nodes))))
        cells = np.stack(np.divmod(np.arange(len(nodes)), width), axis=1).astype(np.int64)
    h, w = cells.max(axis=0) + 1
    index = np.full((h, w), -1, dtype=np.int64)
    index[cells[:, 0], cells[:, 1]] = np.arange(len(nodes))
    grid = index < 0
    adjacent = (
        all(abs(u[0] - v[0]) + abs(u[1] - v[1]) == 1 for u, v in graph.edges) if is_cell else False
    )
    if adjacent:
        moves = np.full((len(nodes), len(DELTAS)), -1, dtype=np.int64)
        moves[:, 0] = np.arange(len(nodes))
        for u, v in graph.edges:
            for a, b in ((u, v), (v, u)):
                delta = (b[0] - a[0], b[1] - a[1])
                action = int(np.flatnonzero((DELTAS == delta).all(axis=1))[0])
                moves[node_id[a], action] = node_id[b]
    else:
        neighbours = [sorted(node_id[u] for u in graph.neighbors(n) if u != n) for n in nodes]
        degree = max(len(ns) for ns in neighbours)
        moves = np.full((len(nodes), 1 + degree), -1, dtype=np.int64)
        moves[:, 0] = np.arange(len(nodes))
        for v, ns in enumerate(neighbours):
            moves[v, 1 : 1 + len(ns)] = ns
    return Topology(grid, cells, index, moves, components(moves))


def as_grid(grid) -> np.ndarray:
    """Checks a map array: 2-D, boolean (True = blocked), at least one free cell."""
    arr = np.asarray(grid)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"map: a grid must be a non-empty 2-D array, got shape {arr.shape}")
    if arr.dtype != np.bool_:
        if not np.issubdtype(arr.dtype, np.integer) or not np.isin(arr, (0, 1)).all():
            raise ValueError(f"map: a grid must be boolean (True = blocked), got {arr.dtype}")
        arr = arr.astype(bool)
    if arr.all():
        raise ValueError("map: every cell is blocked")
    return np.ascontiguousarray(arr)


def parse_map(text: str, name: str = "map") -> np.ndarray:
    """Parses Moving AI map text into a boolean grid (True = blocked).

    Errors name ``name`` and the line: a header without positive integer ``height`` and
    ``width``, no ``map`` line, too few or too short rows, unknown terrain, control characters.
    """
    lines = text_lines(text, name)
    header: dict[str, tuple[int, str]] = {}
    i = 0
    while i < len(lines) and lines[i].strip().lower() != "map":
        key, _, value = lines[i].strip().partition(" ")
        if key:
            header[key.lower()] = (i + 1, value.strip())
        i += 1
    if i == len(lines):
        raise ValueError(f"{name}: no 'map' line after the header")
    h, w = (_header_size(header, key, name) for key in ("height", "width"))
    rows = lines[i + 1 : i + 1 + h]
    if len(rows) != h:
        raise ValueError(
            f"{name}: expected {h} rows of {w} characters after 'map', got {len(rows)}"
        )
    for r, row in enumerate(rows):
        if len(row) < w:
            raise ValueError(
                f"{name}, line {i + 2 + r}: expected {h} rows of {w} characters, this one has "
                f"{len(row)}"
            )
    codes = np.frombuffer("".join(row[:w] for row in rows).encode("utf-32-le"), np.uint32)
    codes = codes.reshape(h, w)
    grid = np.isin(codes, [ord(c) for c in BLOCKED])
    unknown = ~grid & ~np.isin(codes, [ord(c) for c in PASSABLE])
    if unknown.any():
        r, c = np.argwhere(unknown)[0]
        raise ValueError(
            f"{name}, line {i + 2 + r}: unknown terrain {chr(codes[r, c])!r} at row {r}, column {c}"
        )
    return as_grid(grid)


def _header_size(header: dict[str, tuple[int, str]], key: str, name: str) -> int:
    if key not in header:
        raise ValueError(f"{name}: missing {key} header (needs height and width before 'map')")
    line, value = header[key]
    if not _INTEGER.fullmatch(value) or int(value) < 1:
        raise ValueError(
            f"{name}, line {line}: {key} must be a positive integer, got {value!r:.40}"
        )
    return int(value)


def text_lines(text: str, name: str) -> list[str]:
    """The lines of a text file's contents (``\\n`` or ``\\r\\n`` endings); a control character
    (a binary file) raises ValueError naming ``name`` and its line."""
    bad = _CONTROL.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise ValueError(f"{name}, line {line}: not text (control character {bad.group()!r})")
    return [line.removesuffix("\r") for line in text.split("\n")]


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def read_text(path: Path) -> str:
    """A file's UTF-8 contents; unreadable or non-UTF-8 bytes raise ValueError naming the
    file (and the line)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"{path} cannot be read: {err.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(f"{path}, line {line}: not text (byte {data[err.start]:#04x})") from None


def bundled_maps() -> list[str]:
    """Names of the Moving AI maps shipped with metagame."""
    return sorted(p.stem for p in DATA_DIR.glob("*.map"))


def map_path(name: str) -> Path:
    """A bundled map name (``"random-32-32-10"``) or a path to a ``.map`` file."""
    path = Path(os.path.expanduser(name))
    if path.is_file():
        return path
    bundled = DATA_DIR / (name if name.endswith(".map") else name + ".map")
    if bundled.is_file():
        return bundled
    raise ValueError(
        f"map {name!r} is neither a file nor a bundled map (bundled: {', '.join(bundled_maps())})"
    )


def load_map(name: str) -> np.ndarray:
    """Loads a bundled map by name or a ``.map`` file by path."""
    path = map_path(name)
    return parse_map(read_text(path), name=str(path))


# .scen columns: bucket, map, map width, map height, start x, start y, goal x, goal y, length
_SCEN_INTS = {
    0: "bucket",
    2: "width",
    3: "height",
    4: "start_x",
    5: "start_y",
    6: "goal_x",
    7: "goal_y",
}
_INTEGER = re.compile(r"-?[0-9]+")


def load_scenario(path: str, num_agents: int | None = None) -> tuple[str, np.ndarray, np.ndarray]:
    """Reads a ``.scen`` file: ``(map path, starts, goals)``, arrays (n, 2) in (row, col).

    A bare name (``"random-32-32-10-random-1"``) resolves to the bundled scenario. The map a
    scenario names must lie beside it (the same directory) and have the width and height its
    rows give; every start and goal must be a free cell of it. Errors name the file and the line.
    """
    if num_agents is not None and (
        isinstance(num_agents, bool) or not isinstance(num_agents, int | np.integer)
    ):
        raise ValueError(f"num_agents must be an int, got {num_agents!r}")
    if num_agents is not None and num_agents < 1:
        raise ValueError(f"num_agents must be positive, got {num_agents}")
    file = Path(os.path.expanduser(path))
    if not file.is_file():
        file = DATA_DIR / (path if path.endswith(".scen") else path + ".scen")
    if not file.is_file():
        raise ValueError(f"scenario {path!r} is neither a file nor a bundled scenario")
    rows = _scenario_rows(file)
    if num_agents is not None:
        if num_agents > len(rows):
            raise ValueError(f"{file}: asked for {num_agents} agents, scenario has {len(rows)}")
        rows = rows[:num_agents]
    line, name, *_ = rows[0]
    map_file = file.parent / Path(name).name
    if not map_file.is_file():
        raise ValueError(
            f"{file}, line {line}: names map {name!r}, but {map_file} does not exist (a "
            f"scenario's map must lie beside it)"
        )
    grid = load_map(str(map_file))
    for line, _, (width, height, *xy) in rows:
        if (height, width) != grid.shape:
            raise ValueError(
                f"{file}, line {line}: map size {width}x{height} (width x height), but "
                f"{map_file} is {grid.shape[1]}x{grid.shape[0]}"
            )
        if not all(0 <= x < width for x in xy[::2]) or not all(0 <= y < height for y in xy[1::2]):
            raise ValueError(f"{file}, line {line}: a start or goal lies outside the map")
        if grid[xy[1], xy[0]] or grid[xy[3], xy[2]]:
            raise ValueError(f"{file}, line {line}: a start or goal is blocked in {map_file}")
    xy = np.array([r[2][2:] for r in rows], dtype=np.int64)  # start x, y, goal x, y
    starts, goals = xy[:, [1, 0]], xy[:, [3, 2]]
    return str(map_file), starts, goals


def _scenario_rows(file: Path) -> list[tuple[int, str, list[int]]]:
    """``(line number, map name, [width, height, sx, sy, gx, gy])`` of every scenario row."""
    lines = text_lines(read_text(file), str(file))
    rows = []
    for n, text in enumerate(lines, start=1):
        if not text.strip() or (n == 1 and text.split()[0].lower() == "version"):
            continue
        parts = text.split("\t") if "\t" in text else text.split()
        if len(parts) not in (8, 9):
            raise ValueError(
                f"{file}, line {n}: expected 9 fields (bucket map width height start_x start_y "
                f"goal_x goal_y optimal_length), got {len(parts)}"
            )
        for k, field in _SCEN_INTS.items():
            if not _INTEGER.fullmatch(parts[k].strip()):
                raise ValueError(
                    f"{file}, line {n}: {field} must be an integer, got {parts[k]!r:.40}"
                )
        if len(parts) == 9 and not _is_number(parts[8]):
            raise ValueError(
                f"{file}, line {n}: optimal_length must be a number, got {parts[8]!r:.40}"
            )
        if rows and parts[1] != rows[0][1]:
            raise ValueError(
                f"{file}, line {n}: names map {parts[1]!r}, earlier rows {rows[0][1]!r}"
            )
        rows.append((n, parts[1], [int(parts[k]) for k in range(2, 8)]))
    if not rows:
        raise ValueError(f"{file}: no scenario rows")
    return rows


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def resolve(spec) -> Topology:
    """Any map specification -> Topology: bundled name, ``.map`` path, bool array, nx graph."""
    if isinstance(spec, nx.Graph):
        return graph_topology(spec)
    if isinstance(spec, str | os.PathLike):
        return grid_topology(load_map(str(spec)))
    if isinstance(spec, np.ndarray | list):
        return grid_topology(spec)
    raise ValueError(
        f"map must be a map name, a .map path, a boolean array or a networkx graph, "
        f"got {type(spec).__name__}"
    )


# --- generators: every one returns a connected map (cells outside the largest component of
# the raw draw are blocked) ---


def largest_component(grid: np.ndarray) -> np.ndarray:
    """Blocks every free cell outside the largest 4-connected component."""
    topo = grid_topology(grid)
    sizes = np.bincount(topo.component)
    keep = topo.component == np.argmax(sizes)
    out = np.ones_like(grid)
    out[topo.cells[keep, 0], topo.cells[keep, 1]] = False
    return out


def _check_size(height: int, width: int) -> None:
    if int(height) < 1 or int(width) < 1:
        raise ValueError(f"map size must be positive, got {height}x{width}")


def random_map(height: int, width: int, density: float, seed: int | None = None) -> np.ndarray:
    """Obstacles placed independently with probability ``density``; connected."""
    _check_size(height, width)
    if not 0.0 <= density < 1.0:
        raise ValueError(f"density must lie in [0, 1), got {density}")
    grid = np.random.default_rng(seed).random((height, width)) < density
    if grid.all():
        grid[0, 0] = False
    return largest_component(grid)


def maze_map(height: int, width: int, seed: int | None = None) -> np.ndarray:
    """A perfect maze (randomized depth-first search) with corridors one cell wide."""
    _check_size(height, width)
    rng = np.random.default_rng(seed)
    grid = np.ones((height, width), dtype=bool)
    rooms_h, rooms_w = (height + 1) // 2, (width + 1) // 2
    seen = np.zeros((rooms_h, rooms_w), dtype=bool)
    stack = [(0, 0)]
    seen[0, 0] = True
    grid[0, 0] = False
    while stack:
        r, c = stack[-1]
        options = [
            (r + dr, c + dc)
            for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
            if 0 <= r + dr < rooms_h and 0 <= c + dc < rooms_w and not seen[r + dr, c + dc]
        ]
        if not options:
            stack.pop()
            continue
        nr, nc = options[rng.integers(len(options))]
        seen[nr, nc] = True
        grid[2 * nr, 2 * nc] = False
        grid[r + nr, c + nc] = False
        stack.append((nr, nc))
    return grid


def warehouse_map(
    shelf_rows: int = 4, shelf_cols: int = 4, shelf_length: int = 8, aisle: int = 2, margin: int = 3
) -> np.ndarray:
    """Rows of 1-cell-deep shelves separated by aisles, with an open margin (Moving AI style)."""
    height = 2 * margin + shelf_rows * (1 + aisle) - aisle
    width = 2 * margin + shelf_cols * (shelf_length + aisle) - aisle
    grid = np.zeros((height, width), dtype=bool)
    for i in range(shelf_rows):
        r = margin + i * (1 + aisle)
        for j in range(shelf_cols):
            c = margin + j * (shelf_length + aisle)
            grid[r, c : c + shelf_length] = True
    return grid


def rooms_map(
    rooms: int = 4, room_size: int = 7, door_width: int = 1, seed: int | None = None
) -> np.ndarray:
    """A ``rooms x rooms`` grid of square rooms separated by walls with random doors."""
    rng = np.random.default_rng(seed)
    size = rooms * (room_size + 1) - 1
    grid = np.zeros((size, size), dtype=bool)
    for k in range(1, rooms):
        line = k * (room_size + 1) - 1
        grid[line, :] = True
        grid[:, line] = True
    for k in range(1, rooms):
        line = k * (room_size + 1) - 1
        for i in range(rooms):
            lo = i * (room_size + 1)
            for horizontal in (True, False):
                start = lo + rng.integers(0, room_size - door_width + 1)
                if horizontal:
                    grid[line, start : start + door_width] = False
                else:
                    grid[start : start + door_width, line] = False
    return largest_component(grid)
