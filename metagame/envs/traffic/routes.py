"""Traffic demand from SUMO route files (``.rou.xml``): every vehicle's departure time and route.

A route file (SUMO's "Definition of Vehicles, Vehicle Types, and Routes") lists, under
``<routes>`` (flows may sit in ``<interval>`` blocks):

- ``<route id edges="e1 e2 ...">``: a named route, used by vehicles and flows (``route="id"``);
- ``<vehicle id depart route=...>``, or with a nested ``<route edges=...>``;
- ``<trip id depart from to [via]>``: routed here by the fastest path at free speed
  (``length / speed`` per link, on the graph of links and the turns allowed between them, so
  U-turns are never taken), through the ``via`` edges in order;
- ``<flow id begin end ...>`` with a route (named or nested) or ``from``/``to``/``via``, and
  one of ``period`` (departures at ``begin + k * period`` before ``end``), ``vehsPerHour``
  (period ``3600 / vehsPerHour``), ``probability`` (one departure with that probability at
  each whole second in ``[begin, end)``, drawn from ``seed``) or ``number`` alone (``number``
  departures evenly spaced from ``begin`` by ``(end - begin) / number``); ``number`` with
  one of the others caps the count; ``end`` defaults to 24 h. Its vehicles are ``id.k``.

Vehicle types (``vType``) and ``param`` are read past: drivers are the env's own, and so are
departure and arrival lanes, positions and speeds (a vehicle enters on the freest lane that
serves its route and leaves at the end of its last link). Anything
else (persons, containers, route distributions, symbolic departure times such as
``triggered``) is refused. Edges are named as the network's links (:func:`network.link_names`:
SUMO edge ids for a network from :func:`network.from_sumo`).

The file is parsed with expat with document types and entities refused
(:func:`network.parse_refusing_entities`) into an ``xml.etree.ElementTree`` tree; a bad file is
a ValueError naming the file and the element.
"""

from __future__ import annotations

import math
import os
import tempfile
import zlib
from typing import NamedTuple
from xml.etree import ElementTree
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from metagame.envs.traffic.network import Network, parse_refusing_entities

DAY = 86400.0  # s, a flow's default end
MAX_VEHICLES = 10_000_000  # a flow expanding to more is refused (a typo such as period="1e-9")
IGNORED = frozenset({"vType", "vTypeDistribution", "param"})


class Demand(NamedTuple):
    """Vehicles in order of departure: ``ids``, ``depart`` (s, non-decreasing) and each one's
    route, the links ``route_links[route_ptr[k]:route_ptr[k + 1]]``."""

    ids: tuple
    depart: np.ndarray
    route_ptr: np.ndarray
    route_links: np.ndarray

    @property
    def num_vehicles(self) -> int:
        return len(self.ids)

    def route(self, k: int) -> np.ndarray:
        return self.route_links[self.route_ptr[k] : self.route_ptr[k + 1]]


class _TreeHandler:
    """Builds an ElementTree from the SAX-style calls of :func:`parse_refusing_entities`."""

    def __init__(self):
        self.builder = ElementTree.TreeBuilder()
        self.root = None

    def startElement(self, name, attrs):  # noqa: N802 (SAX's name)
        self.builder.start(name, attrs)

    def endElement(self, name):  # noqa: N802
        self.builder.end(name)

    def endDocument(self):  # noqa: N802
        self.root = self.builder.close()


def read_routes(path: str, net: Network, seed: int = 0) -> Demand:
    """The demand of the SUMO route file at ``path`` (plain or gzip) on ``net``; ``seed`` draws
    the departures of ``probability`` flows. ValueError naming the file and the element when
    the file cannot be read or names what the network lacks."""
    handler = _TreeHandler()
    try:
        parse_refusing_entities(path, handler)
    except (OSError, EOFError, zlib.error, expat.ExpatError, LookupError, ValueError) as err:
        raise ValueError(f"cannot read SUMO routes {path!r}: {err}") from err
    if handler.root.tag != "routes":
        raise ValueError(f"SUMO routes {path!r}: root element <{handler.root.tag}>, not <routes>")
    reader = _RouteReader(net, np.random.default_rng(seed))
    for element in _demand_elements(handler.root):
        try:
            reader.read(element)
        except ValueError as err:
            name = f"<{element.tag} id={element.get('id')!r}>"
            raise ValueError(f"SUMO routes {path!r}: {name}: {err}") from err
    return reader.demand()


def _demand_elements(root):
    """The children of ``root``, with those of ``<interval>`` blocks in their place."""
    for element in root:
        if element.tag == "interval":
            yield from element
        else:
            yield element


class _RouteReader:
    """Reads the elements of a route file in order, collecting vehicles."""

    def __init__(self, net: Network, rng: np.random.Generator):
        self.net = net
        self.rng = rng
        self.named: dict[str, np.ndarray] = {}
        self.ids: list[str] = []
        self.names: set[str] = set()  # ids of vehicles, trips and flows
        self.depart: list[float] = []
        self.routes: list[np.ndarray] = []
        self.links = _link_graph(net)
        self.trees: dict[int, np.ndarray] = {}  # origin link -> Dijkstra predecessors

    def read(self, element) -> None:
        tag = element.tag
        if tag in IGNORED:
            return
        if tag == "route":
            self.named[_required(element, "id")] = self._edges(_required(element, "edges"))
        elif tag in ("vehicle", "trip"):
            self._add(_required(element, "id"), [_time(element, "depart")], self._route(element))
        elif tag == "flow":
            flow_id = _required(element, "id")
            times = flow_departures(**_flow_arguments(element), rng=self.rng)
            self._add(flow_id, times, self._route(element), numbered=True)
        else:
            raise ValueError(f"element <{tag}> is not supported")

    def _add(self, name: str, times, route: np.ndarray, numbered: bool = False) -> None:
        if name in self.names:
            raise ValueError("the id is used twice")
        self.names.add(name)
        for k, t in enumerate(times):
            self.ids.append(f"{name}.{k}" if numbered else name)
            self.depart.append(float(t))
            self.routes.append(route)

    def _route(self, element) -> np.ndarray:
        """The route of a vehicle, trip or flow: ``route`` (a name, or a nested element) or
        ``from``/``to``/``via``."""
        nested = element.find("route")
        if element.get("route") is not None:
            return self._named(element.get("route"))
        if nested is not None:
            return self._edges(_required(nested, "edges"))
        if element.get("from") is None or element.get("to") is None:
            raise ValueError("needs a route, or 'from' and 'to'")
        stops = [element.get("from"), *element.get("via", "").split(), element.get("to")]
        links = [self._link(name) for name in stops]
        route = [links[0]]
        for a, b in zip(links[:-1], links[1:]):
            route += self._fastest(a, b)[1:]
        return np.array(route, dtype=np.int64)

    def _named(self, name: str) -> np.ndarray:
        if name not in self.named:
            raise ValueError(f"route {name!r} is not defined before it is used")
        return self.named[name]

    def _link(self, name: str) -> int:
        if name not in self.net.link_by_name:
            raise ValueError(f"edge {name!r} is not a link of the network")
        return self.net.link_by_name[name]

    def _edges(self, edges: str) -> np.ndarray:
        """The links of an ``edges`` list, each leading to the next."""
        links = [self._link(name) for name in edges.split()]
        if not links:
            raise ValueError("empty route")
        for a, b in zip(links[:-1], links[1:]):
            if self.net.conn_turn[a, b] < 0:
                names = self.net.link_names
                raise ValueError(f"edge {names[a]!r} does not lead to edge {names[b]!r}")
        return np.array(links, dtype=np.int64)

    def _fastest(self, a: int, b: int) -> list[int]:
        """The fastest links from link ``a`` to link ``b`` at free speed, both included."""
        if a not in self.trees:
            _, self.trees[a] = dijkstra(self.links, indices=a, return_predecessors=True)
        predecessors = self.trees[a]
        path = [b]
        while path[-1] != a:
            if predecessors[path[-1]] < 0:
                names = self.net.link_names
                raise ValueError(f"no route from edge {names[a]!r} to edge {names[b]!r}")
            path.append(int(predecessors[path[-1]]))
        return path[::-1]

    def demand(self) -> Demand:
        order = np.argsort(np.array(self.depart, dtype=float), kind="stable")
        routes = [self.routes[k] for k in order]
        ptr = np.zeros(len(routes) + 1, dtype=np.int64)
        ptr[1:] = np.cumsum([len(r) for r in routes])
        return Demand(
            ids=tuple(self.ids[k] for k in order),
            depart=np.array(self.depart, dtype=float)[order],
            route_ptr=ptr,
            route_links=np.concatenate(routes).astype(np.int64) if routes else ptr[:0],
        )


def _link_graph(net: Network) -> csr_matrix:
    """Links as nodes, the allowed turns as arcs, weighted by the free-flow time of the link
    entered."""
    a, b = np.nonzero(net.conn_turn >= 0)
    time = net.link_length / net.link_speed
    return csr_matrix((time[b], (a, b)), shape=(net.num_links, net.num_links))


def _required(element, name: str) -> str:
    value = element.get(name)
    if value is None:
        raise ValueError(f"missing attribute {name!r}")
    return value


def _number(element, name: str) -> float | None:
    """Attribute ``name`` as a finite float >= 0, or None when absent."""
    value = element.get(name)
    if value is None:
        return None
    try:
        x = float(value)
    except ValueError:
        raise ValueError(f"attribute {name}={value!r} is not a number of seconds") from None
    if not (math.isfinite(x) and x >= 0):
        raise ValueError(f"attribute {name}={value!r} must be finite and >= 0")
    return x


def _time(element, name: str) -> float:
    value = _number(element, name)
    if value is None:
        raise ValueError(f"missing attribute {name!r}")
    return value


def _flow_arguments(element) -> dict:
    number = _number(element, "number")
    if number is not None and number != int(number):
        raise ValueError(f"attribute number={element.get('number')!r} is not a whole number")
    return {
        "begin": _number(element, "begin") or 0.0,
        "end": _number(element, "end"),
        "period": _number(element, "period"),
        "vehs_per_hour": _number(element, "vehsPerHour"),
        "probability": _number(element, "probability"),
        "number": None if number is None else int(number),
    }


def flow_departures(
    begin: float,
    end: float | None,
    period: float | None,
    vehs_per_hour: float | None,
    probability: float | None,
    number: int | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """A flow's departure times, as the module docstring defines them."""
    rates = [x for x in (period, vehs_per_hour, probability) if x is not None]
    if len(rates) > 1:
        raise ValueError("give at most one of 'period', 'vehsPerHour' and 'probability'")
    if not rates and number is None:
        raise ValueError("needs one of 'period', 'vehsPerHour', 'probability' or 'number'")
    if end is None:
        if not rates:
            raise ValueError("'number' alone needs 'end'")
        end = DAY
    if end < begin:
        raise ValueError(f"end {end} is before begin {begin}")
    if probability is not None:
        if not 0.0 < probability <= 1.0:
            raise ValueError(f"probability {probability} is not in (0, 1]")
        seconds = begin + np.arange(math.ceil(end - begin))
        times = seconds[rng.random(len(seconds)) < probability]
    else:
        if rates:
            step = period if period is not None else 3600.0 / max(vehs_per_hour, 1e-300)
            if not step > 0:
                raise ValueError("the period must be > 0")
            count = math.ceil((end - begin) / step) + 1
        else:
            step, count = (end - begin) / max(number, 1), number
        if count > MAX_VEHICLES:
            raise ValueError(f"the flow expands to {count} vehicles (at most {MAX_VEHICLES})")
        times = begin + np.arange(count) * step
        times = times[times < end] if rates else times
    return times if number is None else times[:number]


def write_routes(demand: Demand, net: Network, path: str) -> None:
    """Writes ``demand`` as a SUMO route file of vehicles with their routes (edges named as
    ``net``'s links); :func:`read_routes` reads it back to the same demand. The file appears
    whole or not at all."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<routes>"]
    for k, vehicle in enumerate(demand.ids):
        edges = " ".join(net.link_names[link] for link in demand.route(k))
        depart = quoteattr(repr(float(demand.depart[k])))
        lines.append(
            f"    <vehicle id={quoteattr(vehicle)} depart={depart}>"
            f"<route edges={quoteattr(edges)}/></vehicle>"
        )
    lines.append("</routes>\n")
    folder = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as out:
        out.write("\n".join(lines))
    os.replace(out.name, path)


def check_demand(demand: Demand, net: Network) -> None:
    """ValueError unless every route of ``demand`` is a chain of connected links of ``net``
    (a Demand read for another network, or built by hand)."""
    links = demand.route_links
    if len(links) and (links.min() < 0 or links.max() >= net.num_links):
        raise ValueError(f"routes: link ids outside [0, {net.num_links}) of this network")
    for k in range(demand.num_vehicles):
        route = demand.route(k)
        if len(route) == 0 or np.any(net.conn_turn[route[:-1], route[1:]] < 0):
            raise ValueError(f"routes: vehicle {demand.ids[k]!r} has a route this network lacks")
    if np.any(np.diff(demand.depart) < 0):
        raise ValueError("routes: departures must be in order")
