"""The traffic Markov game: controlled vehicles and signal controllers on a road network.

Background vehicles follow IDM and MOBIL with per-driver parameters (``drivers.py``). A step
is one Numba kernel (``flow.step_world``: signals, the substeps of ``core.py``, vehicles
leaving and the route file's vehicles entering); Python only books the agents. Agents of two
kinds, in any combination:

- ``vehicle_j`` (a fixed pool of ``num_controlled`` ids): a controlled vehicle choosing a
  meta-action each step, as in highway-env (Leurent 2018): keep, faster, slower (target speed
  in quarters of the speed limit), lane left, lane right, and the turn (left, straight, right)
  at the next junction. It enters on a source link when there is room and leaves the game when
  it arrives at the network's edge or crashes, so ``agents`` changes during an episode.
  Observation: the ``k_nearest`` vehicles' positions and velocities relative to it in its own
  frame, then its own speed, lane, distance to the junction, light, conflict-zone state and
  route options. Reward: ``speed_weight`` x progress (fraction of the speed limit) per step,
  ``arrival_bonus`` on arrival, ``-collision_penalty`` on a crash.
- ``signal_s`` (when ``control_signals``): picks the next phase of a signalised junction
  (minimum green and yellow enforced, ``signals.py``). Observation: queue length (halting
  vehicles over lane capacity) per approach, the current phase, yellow flag and green time.
  Reward: ``-delay_weight`` x vehicle-seconds of delay on its approaches during the step.

Background demand is random (``num_vehicles`` placed at reset, ``inflow`` vehicles per hour
per source link, turning at random), or, with ``routes`` (a SUMO ``.rou.xml`` path or a
``routes.Demand``), the file's vehicles: each enters its first link at the first step at or
after its departure time, on the lane with the most room among those that continue on its
route, once it has 20 m free
(vehicles that find no room wait, in order, as SUMO's insertion queue does), and follows its
route to the end of its last link. ``departed`` holds each one's entry time (NaN: not yet).

A controlled vehicle can also be handed to the background drivers' model
(``set_autopilot(agent)``): it then drives by IDM and MOBIL with its own sampled driver
parameters, reserves junctions and picks turns exactly as a background vehicle does, while
it stays an agent (observed, rewarded, counted in the metrics); ``metagame.agents.IDMPolicy``
does this for the vehicles it drives.

Actions that are illegal (no lane to the left, no right turn ahead, a phase change before the
minimum green) are masked in ``{"observation", "action_mask"}`` and act as "keep" if taken.
Metrics of the episode (``metrics()``) are in the final infos of every agent under "metrics".
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any, Literal, NamedTuple

import gymnasium
import networkx as nx
import numpy as np
from pettingzoo import ParallelEnv

from metagame.envs.rendered import Rendered
from metagame.envs.traffic import core, flow
from metagame.envs.traffic.core import (
    ACTIVE,
    ARRIVED,
    CRASHED,
    CTRL,
    DIST,
    FREE,
    LANE,
    NEXT,
    SPEED,
    STATUS,
    T_EXIT,
    TARGET,
    TRAVEL_DELAY,
    TRAVEL_TIME,
    VEHICLE_METRES,
    VEHICLE_SECONDS,
)
from metagame.envs.traffic.drivers import (
    LENGTH,
    TRAFFIC_MIX,
    sample_drivers,
)
from metagame.envs.traffic.flow import ENTRY_POS, ENTRY_ROOM, START_TARGET, Count, DemandQueue
from metagame.envs.traffic.network import (
    SCENARIOS,
    Network,
    compile_network,
    from_sumo,
)
from metagame.envs.traffic.observe import (
    EGO_FEATURES,
    FASTER,
    LANE_LEFT,
    LANE_RIGHT,
    NEIGHBOUR_FEATURES,
    NUM_ACTIONS,
    ROUTE_LEFT,
    SLOWER,
    ego_features,
    neighbour_features,
    vehicle_masks,
    world_positions,
)
from metagame.envs.traffic.routes import Demand, check_demand, read_routes
from metagame.envs.traffic.signals import Signals


class AgentKind(StrEnum):
    """The two kinds of agent; an agent's name is ``f"{kind}_{index}"``."""

    VEHICLE = "vehicle"
    SIGNAL = "signal"


class AgentState(IntEnum):
    """Where a controlled vehicle is in its episode (``_agent_state`` holds the ``.value``s:
    NumPy probes an enum member for array attributes at every comparison, ~50 us a step on
    the intersection scenario, as much as its simulation)."""

    PENDING = 0  # waiting for room at a source
    DRIVING = 1  # on the network
    DONE = 2  # arrived or crashed


class RewardWeights(NamedTuple):
    """The reward parameters of the module docstring."""

    speed: float
    arrival: float
    collision: float
    delay: float


SPEED_SCALE = 40.0  # m/s, normalises velocities
SPEED_STEP = 0.25  # target speed step, fraction of the limit
START_SPACING = 25.0  # m between background vehicles placed at reset


class TrafficEnv(Rendered, ParallelEnv):
    """Road-network Markov game; see the module docstring."""

    metadata = {"name": "traffic_v0", "render_modes": ["rgb_array", "human"], "render_fps": 10}

    def __init__(
        self,
        scenario: Literal["intersection", "grid", "highway", "roundabout"] = "intersection",
        network: nx.DiGraph | str | None = None,
        num_controlled: int = 2,
        control_signals: bool = False,
        num_vehicles: int | None = None,
        inflow: float | None = None,
        routes: str | Demand | None = None,
        traffic: Literal["mild", "chaotic", "sumo"] = "mild",
        grid_size: int = 3,
        k_nearest: int = 5,
        obs_range: float = 100.0,
        max_steps: int = 100,
        dt: float = 0.1,
        substeps: int = 10,
        min_green: float = 5.0,
        yellow: float = 3.0,
        green: float = 20.0,
        speed_weight: float = 0.1,
        arrival_bonus: float = 1.0,
        collision_penalty: float = 5.0,
        delay_weight: float = 0.01,
        render_mode: Literal["rgb_array", "human"] | None = None,
        seed: int | None = None,
    ):
        if network is None:
            if scenario not in SCENARIOS:
                raise ValueError(f"scenario must be one of {list(SCENARIOS)}, got {scenario!r}")
            graph = SCENARIOS[scenario](grid_size) if scenario == "grid" else SCENARIOS[scenario]()
            self.net: Network = compile_network(graph)
        elif isinstance(network, str):
            self.net = from_sumo(network)
        else:
            self.net = compile_network(network)
        if isinstance(routes, str):
            routes = read_routes(routes, self.net, seed=0 if seed is None else seed)
        elif routes is not None:
            check_demand(routes, self.net)
        # Random background demand by default; a route file replaces it.
        if num_vehicles is None:
            num_vehicles = 10 if routes is None else 0
        if inflow is None:
            inflow = 600.0 if routes is None else 0.0
        self.demand: Demand | None = routes
        self._route_links = (
            routes.route_links if routes is not None else np.zeros(0, dtype=np.int64)
        )
        # the most route-file vehicles that enter in one step: one a lane of the routes' first links
        firsts = np.unique(routes.route_links[routes.route_ptr[:-1]]) if routes is not None else []
        self._entry_lanes = int(self.net.link_lanes[firsts].sum())
        checks = {
            "num_controlled": num_controlled >= 0,
            "num_vehicles": num_vehicles >= 0,
            "inflow": inflow >= 0,
            "k_nearest": k_nearest >= 1,
            "obs_range": obs_range > 0,
            "max_steps": max_steps >= 1,
            "dt": 0 < dt <= 1.0,
            "substeps": substeps >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"traffic: parameter {name!r} out of range: {locals()[name]!r}")
        if traffic not in TRAFFIC_MIX:
            raise ValueError(f"traffic must be one of {list(TRAFFIC_MIX)}, got {traffic!r}")
        if control_signals and len(self.net.signal_nodes) == 0:
            raise ValueError("control_signals=True but the network has no signalised junction")
        self.scenario = scenario if network is None else "custom"
        self.num_controlled = num_controlled
        self.control_signals = control_signals
        self.num_vehicles = num_vehicles
        self.inflow = inflow
        self.traffic = traffic
        self.k_nearest = k_nearest
        self.obs_range = obs_range
        self.max_steps = max_steps
        self.dt = dt
        self.substeps = substeps
        self.step_time = dt * substeps
        self.weights = RewardWeights(speed_weight, arrival_bonus, collision_penalty, delay_weight)
        self.render_mode = render_mode
        self._seed = seed
        self.kernel_net = self.net.kernel_arrays()
        self.signals = Signals(
            self.net.signal_phases, self.net.num_links, self.step_time, min_green, yellow, green
        )
        self.turns = self._turn_table()  # [link, turn]: the out-link taking it, -1 none
        self._slots = self._start_slots()
        if num_vehicles > len(self._slots):
            raise ValueError(
                f"num_vehicles={num_vehicles} exceeds the {len(self._slots)} start positions of "
                f"this network ({START_SPACING:.0f} m apart)"
            )
        self.vehicle_agents = [f"{AgentKind.VEHICLE}_{j}" for j in range(num_controlled)]
        num_signals = len(self.net.signal_nodes) if control_signals else 0
        self.signal_agents = [f"{AgentKind.SIGNAL}_{s}" for s in range(num_signals)]
        self.possible_agents = self.vehicle_agents + self.signal_agents
        # the league's roles: controlled vehicles and signal controllers
        self.agent_roles = dict.fromkeys(self.vehicle_agents, "vehicle")
        self.agent_roles |= dict.fromkeys(self.signal_agents, "signal")
        # agent name -> (kind, index among its kind)
        self._agent_ids = {a: (AgentKind.VEHICLE, j) for j, a in enumerate(self.vehicle_agents)}
        self._agent_ids |= {a: (AgentKind.SIGNAL, s) for s, a in enumerate(self.signal_agents)}
        self._max_in = max(
            [int(np.diff(self.net.node_in_ptr)[n]) for n in self.net.signal_nodes] or [1]
        )
        self._max_phases = max([len(p) for p in self.net.signal_phases] or [1])
        self._spaces = self._build_spaces()
        self._renderer = None
        self.agents: list[str] = []
        self.rng: np.random.Generator | None = None
        self._autopilot = np.zeros(num_controlled, dtype=bool)  # set_autopilot
        self.reset(seed=seed)

    # ----------------------------------------------------------------------------- spaces

    def _build_spaces(self) -> dict[str, tuple[gymnasium.Space, gymnasium.Space]]:
        vehicle_dim = self.k_nearest * NEIGHBOUR_FEATURES + EGO_FEATURES
        signal_dim = self._max_in + self._max_phases + 2
        spaces = {}
        for agent in self.possible_agents:
            kind, _ = self._agent_ids[agent]
            dim, n = (
                (vehicle_dim, NUM_ACTIONS)
                if kind == AgentKind.VEHICLE
                else (signal_dim, self._max_phases)
            )
            obs = gymnasium.spaces.Dict(
                {
                    "observation": gymnasium.spaces.Box(-1.0, 1.0, (dim,), np.float32),
                    "action_mask": gymnasium.spaces.Box(0, 1, (n,), np.int8),
                }
            )
            spaces[agent] = (obs, gymnasium.spaces.Discrete(n))
        return spaces

    def observation_space(self, agent: str) -> gymnasium.Space:
        return self._spaces[agent][0]

    def action_space(self, agent: str) -> gymnasium.Space:
        return self._spaces[agent][1]

    # ----------------------------------------------------------------------------- setup

    def _turn_table(self) -> np.ndarray:
        """``turns[link, turn]``: the out-link taking that turn (``network.LEFT``,
        ``STRAIGHT``, ``RIGHT``) after ``link`` (-1 none)."""
        net = self.net
        turns = np.full((net.num_links, 3), -1, dtype=np.int64)
        for a in range(net.num_links):
            node = net.link_nodes[a, 1]
            for o in net.node_out[net.node_out_ptr[node] : net.node_out_ptr[node + 1]]:
                turn = net.conn_turn[a, o]
                if turn >= 0 and turns[a, turn] < 0:
                    turns[a, turn] = o
        return turns

    def _start_slots(self) -> np.ndarray:
        """Start positions ``(lane, pos)`` for background vehicles, ``START_SPACING`` apart
        (the first slot of each source link is left free for entering vehicles)."""
        net = self.net
        slots = []
        sources = set(net.source_links.tolist())
        for lane in range(net.num_lanes):
            link = net.lane_link[lane]
            first = 2 if link in sources else 1
            count = int((net.link_length[link] - 5.0) // START_SPACING)
            slots += [(lane, k * START_SPACING) for k in range(first, count + 1)]
        return np.array(slots, dtype=float).reshape(-1, 2)

    def reset(self, seed: int | None = None, options: dict | None = None):
        # A seed restarts the random stream (same seed, same episode); without one the stream
        # continues, so that successive episodes differ.
        if seed is not None or self.rng is None:
            self.rng = np.random.default_rng(self._seed if seed is None else seed)
        self.t = 0.0
        self.steps = 0
        capacity = max(64, 2 * (self.num_vehicles + self.num_controlled))
        self.ints, self.floats, self.params = core.empty_state(capacity)
        # rows VEHICLE_SECONDS, VEHICLE_METRES, TRAVEL_TIME, TRAVEL_DELAY (core)
        self.totals = np.zeros(4)
        self.counts = np.zeros(len(Count), dtype=np.int64)  # rows flow.Count
        self.link_delay = np.zeros(self.net.num_links)
        self.signals.reset()
        self._wanted = np.full(len(self.signals), -1, dtype=np.int64)
        self._agent_slot = np.full(self.num_controlled, -1, dtype=np.int64)
        self._agent_state = np.full(self.num_controlled, AgentState.PENDING.value, dtype=np.int64)
        self._agent_enter = np.zeros(self.num_controlled)  # times
        self._agent_exit = np.zeros(self.num_controlled)
        self._agent_outcome = np.zeros(self.num_controlled, dtype=np.int64)  # ARRIVED/CRASHED
        self._light = self.signals.lights()
        self._place_background()
        self.demand_queue = self._demand_queue()
        self._spawn_demand()
        self._spawn_controlled()
        self.agents = [a for a in self.possible_agents if self._is_live(a)]
        return self._observe(self.agents), {a: {} for a in self.agents}

    def _is_live(self, agent: str) -> bool:
        kind, index = self._agent_ids[agent]
        if kind == AgentKind.SIGNAL:
            return self.steps < self.max_steps
        return self._agent_state[index] == AgentState.DRIVING.value

    def _free_slots(self, n: int) -> np.ndarray:
        """``n`` free slots, growing the state arrays when needed."""
        free = np.flatnonzero(self.ints[STATUS] == FREE)
        if len(free) < n:
            old = self.ints.shape[1]
            ints, floats, params = core.empty_state(max(2 * old, old + n))
            ints[:, :old], floats[:, :old], params[:, :old] = self.ints, self.floats, self.params
            self.ints, self.floats, self.params = ints, floats, params
            free = np.flatnonzero(self.ints[STATUS] == FREE)
        return free[:n]

    def _add_vehicles(self, lanes: np.ndarray, pos: np.ndarray, agents: np.ndarray) -> np.ndarray:
        """New vehicles on ``lanes`` at ``pos`` (drivers sampled, speed ``v0``, a random turn
        ahead; ``agents`` -1 for background); returns their slots (``flow.add_vehicles``)."""
        kinds, params = sample_drivers(self.rng, len(lanes), self.traffic)
        slots = self._free_slots(len(lanes))
        flow.add_vehicles(
            self.ints, self.floats, self.params, slots, np.asarray(lanes, dtype=np.int64),
            np.asarray(pos, dtype=float), np.asarray(agents, dtype=np.int64), kinds,
            np.ascontiguousarray(params.T), self.t, self.counts, self.kernel_net,
            self._route_links,
        )  # fmt: skip
        return slots

    def _reserve_slots(self, n: int) -> None:
        """Grows the state arrays so that ``n`` more vehicles than now fit (slots in use: the
        vehicles counted in and not yet retired)."""
        used = self.counts[Count.ENTERED] - self.counts[Count.ARRIVED] - self.counts[Count.CRASHED]
        if used + n > self.ints.shape[1]:
            self._free_slots(n)

    def _safe_speed(self, slots: np.ndarray, room: np.ndarray) -> None:
        """Caps speeds so that each vehicle can stop within ``room`` (``flow.cap_speeds``)."""
        flow.cap_speeds(self.floats, self.params, slots, np.asarray(room, dtype=float))

    def _place_background(self) -> None:
        """Background vehicles on random start positions, slow enough to stop behind the next
        start position and before a stop line or lane end."""
        net = self.net
        chosen = np.sort(self.rng.choice(len(self._slots), self.num_vehicles, replace=False))
        lanes = self._slots[chosen, 0].astype(np.int64)
        pos = self._slots[chosen, 1]
        slots = self._add_vehicles(lanes, pos, np.full(len(lanes), -1))
        links = net.lane_link[lanes]
        room = START_SPACING - self.params[LENGTH, slots]
        nxt = self.ints[NEXT, slots]
        index = net.lane_index[lanes] + net.conn_offset[links, np.maximum(nxt, 0)]
        dead_end = (nxt >= 0) & ((index < 0) | (index >= net.link_lanes[np.maximum(nxt, 0)]))
        stops = dead_end | net.node_box[net.link_nodes[links, 1]]
        stops |= self.signals.controlled_links[links]
        room = np.where(stops, np.minimum(room, net.link_length[links] - pos), room)
        self._safe_speed(slots, room)

    def _entry_room(self, lane: int) -> float:
        """Free length at the start of ``lane`` (up to the rear of its last vehicle)."""
        return flow.entry_rooms(self.ints, self.floats, self.params, self.net.num_lanes)[lane]

    def _try_enter(self, link: int, agent: int) -> bool:
        """A vehicle enters ``link`` on a random lane if that lane has 20 m free."""
        net = self.net
        lane = int(net.link_lane0[link] + self.rng.integers(net.link_lanes[link]))
        return self._enter(lane, self._entry_room(lane), agent)

    def _enter(self, lane: int, room: float, agent: int) -> bool:
        """A vehicle enters ``lane`` 5 m past its start if ``room`` (its free length) is at
        least ``ENTRY_ROOM``, slow enough to stop within it."""
        net = self.net
        link = net.lane_link[lane]
        if room < ENTRY_ROOM:
            return False
        slots = self._add_vehicles(np.array([lane]), np.array([ENTRY_POS]), np.array([agent]))
        self._safe_speed(slots, np.array([room - ENTRY_POS]))
        if agent >= 0:
            i = slots[0]
            if self._autopilot[agent]:
                self.ints[CTRL, i] = -1  # the kernel drives it as a background vehicle
            self._agent_slot[agent] = i
            self._agent_state[agent] = AgentState.DRIVING.value
            self._agent_enter[agent] = self.t
            self.floats[SPEED, i] = min(self.floats[SPEED, i], START_TARGET * net.link_speed[link])
        return True

    def set_autopilot(self, agent: str, on: bool = True) -> None:
        """Hands controlled vehicle ``agent`` to IDM/MOBIL (``on``) or back to its actions,
        now and whenever it enters again (see the module docstring)."""
        kind, index = self._agent_ids.get(agent, (None, -1))
        if kind != AgentKind.VEHICLE:
            raise ValueError(f"traffic: set_autopilot needs a vehicle agent, got {agent!r}")
        self._autopilot[index] = on
        if self._agent_state[index] == AgentState.DRIVING.value:
            self.ints[CTRL, self._agent_slot[index]] = -1 if on else index

    def agent_slot(self, agent: str) -> int:
        """The slot of controlled vehicle ``agent`` while it is on the road, else -1."""
        _, index = self._agent_ids[agent]
        driving = self._agent_state[index] == AgentState.DRIVING.value
        return int(self._agent_slot[index]) if driving else -1

    def agent_outcome(self, agent: str) -> int:
        """How controlled vehicle ``agent`` left the road: ``core.ARRIVED``, ``core.CRASHED``,
        or 0 while it has not."""
        return int(self._agent_outcome[self._agent_ids[agent][1]])

    def place_vehicles(self, lanes: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Background vehicles on ``lanes`` at ``pos`` (to set up a scene), each with a
        sampled driver at its desired speed and a random turn ahead; returns their slots."""
        return self._add_vehicles(lanes, pos, np.full(len(lanes), -1))

    def controlled_slots(self) -> np.ndarray:
        """The slots of the controlled vehicles on the road (actions or autopilot)."""
        return self._agent_slot[self._agent_state == AgentState.DRIVING.value]

    def _spawn_controlled(self) -> None:
        """Pending controlled vehicles enter at random sources with room, at most one per
        source a step."""
        if self.num_controlled == 0:
            return
        pending = np.flatnonzero(self._agent_state == AgentState.PENDING.value)
        if len(pending) == 0:
            return
        sources = list(self.rng.permutation(self.net.source_links))
        for agent in pending:
            while sources and not self._try_enter(int(sources.pop()), int(agent)):
                pass

    def _spawn_background(self) -> None:
        if self.inflow <= 0:
            return
        p = min(self.inflow * self.step_time / 3600.0, 1.0)
        for link in self.net.source_links[self.rng.random(len(self.net.source_links)) < p]:
            self._try_enter(int(link), -1)

    def _demand_queue(self) -> DemandQueue:
        """The demand as the insertion kernel reads it, every vehicle's driver drawn now."""
        demand = self.demand
        n = demand.num_vehicles if demand is not None else 0
        kinds, params = sample_drivers(self.rng, n, self.traffic)
        return DemandQueue(
            depart=demand.depart if demand is not None else np.zeros(0),
            route_ptr=demand.route_ptr if demand is not None else np.zeros(1, dtype=np.int64),
            route_links=self._route_links,
            kinds=kinds,
            drivers=np.ascontiguousarray(params.T),
            departed=np.full(n, np.nan),
            waiting=np.zeros(n, dtype=np.int64),
        )

    @property
    def departed(self) -> np.ndarray:
        """Each route-file vehicle's entry time (NaN: not yet)."""
        return self.demand_queue.departed

    def _spawn_demand(self) -> None:
        """The route file's vehicles due by now enter (``flow.insert_demand``)."""
        if self.demand is not None:
            self._reserve_slots(self._entry_lanes)
            flow.insert_demand(
                self.ints, self.floats, self.params, self.kernel_net, self.demand_queue, self.t,
                self.counts,
            )  # fmt: skip

    # ----------------------------------------------------------------------------- step

    def _apply_vehicle_action(self, agent: int, action: int, mask: np.ndarray) -> None:
        i = self._agent_slot[agent]
        if not mask[action]:
            return
        if action == FASTER:
            self.floats[TARGET, i] = min(self.floats[TARGET, i] + SPEED_STEP, 1.0)
        elif action == SLOWER:
            self.floats[TARGET, i] = max(self.floats[TARGET, i] - SPEED_STEP, 0.0)
        elif action in (LANE_LEFT, LANE_RIGHT):
            self.ints[LANE, i] += 1 if action == LANE_LEFT else -1
        elif action >= ROUTE_LEFT:
            link = self.net.lane_link[self.ints[LANE, i]]
            self.ints[NEXT, i] = self.turns[link, action - ROUTE_LEFT]

    def _vehicle_masks(self, slots: np.ndarray) -> np.ndarray:
        return vehicle_masks(slots, self.ints, self.floats, self.turns, self.kernel_net)

    def _signal_masks(self) -> np.ndarray:
        """Legal phases per signal: any phase once it may switch, else only the current one."""
        sig = self.signals
        phases = np.arange(self._max_phases)
        free = sig.can_switch()[:, None] & (phases < sig.num_phases[:, None])
        return (free | (phases == sig.phase[:, None])).astype(np.int8)

    def step(self, actions: dict[str, Any]):
        if not self.possible_agents:  # background traffic alone: nothing to book
            if actions:
                raise ValueError(f"traffic: actions for {list(actions)}, but the game has no agent")
            self._step_world()
            self._spawn_background()
            if self.render_mode == "human":
                self.render()
            return {}, {}, {}, {}, {}
        live = list(self.agents)
        self._apply_actions(actions, live)
        dist_before = self.floats[DIST].copy() if self.num_controlled else self.floats[DIST]
        self._step_world()
        rewards, terminations = self._vehicle_outcomes(live, dist_before)
        for s, name in enumerate(self.signal_agents):
            node = self.net.signal_nodes[s]
            ins = self.net.node_in[self.net.node_in_ptr[node] : self.net.node_in_ptr[node + 1]]
            rewards[name] = -self.weights.delay * float(self.link_delay[ins].sum())
        if self.num_controlled:  # the kernel left the agents' vehicles for this booking
            flow.retire(self.ints, self.floats, self.totals, self.counts, False)
        self._spawn_background()
        self._spawn_controlled()

        truncated = self.steps >= self.max_steps
        truncations = {a: truncated and not terminations[a] for a in live}
        self.agents = [a for a in self.possible_agents if self._is_live(a) and not truncated]
        infos: dict[str, dict] = {a: {} for a in live}
        for a in live:
            kind, index = self._agent_ids[a]
            if kind == AgentKind.VEHICLE and terminations[a]:
                outcome = self._agent_outcome[index]
                infos[a].update(arrived=bool(outcome == ARRIVED), crashed=bool(outcome == CRASHED))
        if live and not self.agents:
            metrics = self.metrics()
            for a in live:
                infos[a]["metrics"] = metrics
        entering = [a for a in self.agents if a not in terminations]
        observations = self._observe(live + entering, done=terminations)
        for a in entering:
            rewards[a], terminations[a], truncations[a], infos[a] = 0.0, False, False, {}
        if self.render_mode == "human":
            self.render()
        return observations, rewards, terminations, truncations, infos

    def advance(self, steps: int) -> np.ndarray:
        """``steps`` steps of a game with no agent (background traffic alone), the same as
        ``steps`` calls of ``step({})``; returns the vehicles on the road after each. Without
        random inflow or a human render, they run in one kernel call (``flow.run_world``),
        back in Python only to grow the state arrays."""
        if self.possible_agents:
            raise ValueError(f"traffic: advance needs a game with no agent, got {self.agents}")
        if steps < 0:
            raise ValueError(f"traffic: advance needs steps >= 0, got {steps}")
        present = np.zeros(steps, dtype=np.int64)
        if self.inflow > 0 or self.render_mode == "human":
            for k in range(steps):
                self.step({})
                present[k] = self.num_present()
            return present
        done = 0
        while done < steps:
            self._reserve_slots(self._entry_lanes)
            ran, self.t = flow.run_world(
                self.ints, self.floats, self.params, self._light, self.kernel_net,
                self.signals.plan, self.signals.state, self._wanted, self.demand_queue, self.t,
                self.dt, self.substeps, self.totals, self.counts, self.link_delay,
                self._entry_lanes, present[done:],
            )  # fmt: skip
            self.steps += ran
            done += ran
        return present

    def _step_world(self) -> None:
        """The step's kernel (``flow.step_world``) with the wanted phases; the clock moves on."""
        if self.demand is not None:
            self._reserve_slots(self._entry_lanes)
        flow.step_world(
            self.ints, self.floats, self.params, self._light, self.kernel_net,
            self.signals.plan, self.signals.state, self._wanted, self.demand_queue, self.t, self.dt,
            self.substeps, self.totals, self.counts, self.link_delay,
        )  # fmt: skip
        self.t += self.step_time
        self.steps += 1

    def _apply_actions(self, actions: dict[str, Any], live: list[str]) -> None:
        """Checks the actions, applies the vehicles' and sets the signals' wanted phases for
        this step (-1: the fixed-time plan)."""
        self._wanted[:] = -1
        for agent, action in actions.items():
            if agent not in live:
                raise ValueError(f"traffic: action for {agent!r}, which is not a live agent")
            action = int(action)
            kind, index = self._agent_ids[agent]
            n = self.action_space(agent).n
            if not 0 <= action < n:
                raise ValueError(f"traffic: action {action} of {agent!r} outside [0, {n})")
            if kind == AgentKind.VEHICLE:
                mask = self._vehicle_masks(self._agent_slot[index : index + 1])[0]
                self._apply_vehicle_action(index, action, mask)
            elif self._signal_masks()[index, action]:
                self._wanted[index] = action

    def _vehicle_outcomes(self, live: list[str], dist_before: np.ndarray) -> tuple[dict, dict]:
        """Rewards and terminations of the live agents; books controlled vehicles that left."""
        rewards = {a: 0.0 for a in live}
        terminations = {a: False for a in live}
        if self.num_controlled == 0:
            return rewards, terminations
        weights = self.weights
        for agent in np.flatnonzero(self._agent_state == AgentState.DRIVING.value):
            i = self._agent_slot[agent]
            name = self.vehicle_agents[agent]
            link = self.net.lane_link[self.ints[LANE, i]]
            progress = (self.floats[DIST, i] - dist_before[i]) / (
                self.net.link_speed[link] * self.step_time
            )
            rewards[name] = weights.speed * float(min(progress, 1.0))
            status = self.ints[STATUS, i]
            if status in (ARRIVED, CRASHED):
                rewards[name] += weights.arrival if status == ARRIVED else -weights.collision
                terminations[name] = True
                self._agent_state[agent] = AgentState.DONE.value
                self._agent_outcome[agent] = status
                self._agent_exit[agent] = self.floats[T_EXIT, i]
        return rewards, terminations

    # ----------------------------------------------------------------------------- observe

    @property
    def route_links(self) -> np.ndarray:
        """The routes' links as the kernel reads them (``demand.route_links``; empty without
        a route file)."""
        return self._route_links

    @property
    def lights(self) -> np.ndarray:
        """Each link's signal state: ``core.RED``, ``YELLOW`` or ``GREEN`` (uncontrolled: GREEN)."""
        return self._light.copy()

    def world_positions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Active slots, their centre points ``(n, 2)`` and unit headings ``(n, 2)``."""
        xy, heading = self._world()
        idx = np.flatnonzero(self.ints[STATUS] == ACTIVE)
        return idx, xy[idx], heading[idx]

    def _world(self) -> tuple[np.ndarray, np.ndarray]:
        return world_positions(self.ints, self.floats, self.params, self.kernel_net)

    def _observe(self, agents: list[str], done: dict | None = None) -> dict[str, dict]:
        out = {}
        if not agents:
            return out
        done = done or {}
        by_kind: dict[AgentKind, list[tuple[int, str]]] = {kind: [] for kind in AgentKind}
        for a in agents:
            if not done.get(a, False):
                kind, index = self._agent_ids[a]
                by_kind[kind].append((index, a))
        vehicles = by_kind[AgentKind.VEHICLE]
        if vehicles:
            slots = self._agent_slot[[j for j, _ in vehicles]]
            xy, heading = self._world()
            near = neighbour_features(
                slots,
                self.ints,
                self.floats,
                xy,
                heading,
                self.k_nearest,
                self.obs_range,
                SPEED_SCALE,
            )
            ego = ego_features(
                slots,
                self.ints,
                self.floats,
                self._light,
                self.turns,
                self.kernel_net,
                self.obs_range,
                SPEED_SCALE,
            )
            features = np.concatenate([near.reshape(len(slots), -1), ego], axis=1)
            features = np.clip(features, -1.0, 1.0).astype(np.float32)
            masks = self._vehicle_masks(slots)
            for k, (_, a) in enumerate(vehicles):
                out[a] = {"observation": features[k], "action_mask": masks[k]}
        if by_kind[AgentKind.SIGNAL]:
            features, masks = self._signal_features(), self._signal_masks()
            for s, a in by_kind[AgentKind.SIGNAL]:
                out[a] = {"observation": features[s], "action_mask": masks[s]}
        for a in agents:
            if done.get(a, False):
                out[a] = self._zero_obs(a)
        return out

    def _zero_obs(self, agent: str) -> dict:
        space = self.observation_space(agent)
        mask = np.zeros(space["action_mask"].shape, dtype=np.int8)
        mask[0] = 1
        return {
            "observation": np.zeros(space["observation"].shape, np.float32),
            "action_mask": mask,
        }

    def _signal_features(self) -> np.ndarray:
        """Per signal: queue (halting vehicles over lane capacity, 7.5 m a vehicle) on each
        approach, phase one-hot, yellow flag and green time over the fixed-time green."""
        net, sig = self.net, self.signals
        halting = (self.ints[STATUS] == ACTIVE) & (self.floats[SPEED] < 1.0)
        queue = np.bincount(net.lane_link[self.ints[LANE, halting]], minlength=net.num_links)
        capacity = net.link_lanes * net.link_length / 7.5
        feats = np.zeros((len(sig), self._max_in + self._max_phases + 2))
        for s, node in enumerate(net.signal_nodes):
            ins = net.node_in[net.node_in_ptr[node] : net.node_in_ptr[node + 1]]
            feats[s, : len(ins)] = np.minimum(queue[ins] / capacity[ins], 1.0)
            feats[s, self._max_in + sig.phase[s]] = 1.0
        feats[:, -2] = sig.yellow_left > 0
        feats[:, -1] = np.minimum(sig.elapsed / max(sig.green, 1), 1.0)
        return feats.astype(np.float32)

    # ----------------------------------------------------------------------------- metrics

    def num_present(self) -> int:
        return int(np.count_nonzero(self.ints[STATUS] == ACTIVE))

    def metrics(self) -> dict[str, float]:
        """Episode metrics so far. Success rate, collision rate and survival time are over the
        controlled vehicles that entered (over all vehicles when none is controlled); the
        rest over all vehicles. Undefined means are 0."""
        entered_ctrl = self._agent_state != AgentState.PENDING.value
        n_ctrl = int(entered_ctrl.sum())
        if self.num_controlled > 0:
            arrived = int(np.sum(self._agent_outcome == ARRIVED))
            crashed = int(np.sum(self._agent_outcome == CRASHED))
            ends = np.where(self._agent_state == AgentState.DONE.value, self._agent_exit, self.t)
            survival = float(np.mean((ends - self._agent_enter)[entered_ctrl])) if (n_ctrl) else 0.0
            denominator = n_ctrl
        else:
            arrived, crashed = int(self.counts[Count.ARRIVED]), int(self.counts[Count.CRASHED])
            survival = self.t
            denominator = int(self.counts[Count.ENTERED])
        n_arrived = int(self.counts[Count.ARRIVED])
        return {
            "success_rate": arrived / denominator if denominator else 0.0,
            "collision_rate": crashed / denominator if denominator else 0.0,
            "survival_time": survival,
            "mean_speed": (
                float(self.totals[VEHICLE_METRES] / self.totals[VEHICLE_SECONDS])
                if self.totals[VEHICLE_SECONDS] > 0
                else 0.0
            ),
            "throughput": n_arrived / self.t * 3600.0 if self.t > 0 else 0.0,
            "mean_travel_time": self.totals[TRAVEL_TIME] / n_arrived if n_arrived else 0.0,
            "delay": self.totals[TRAVEL_DELAY] / n_arrived if n_arrived else 0.0,
            "entered": float(self.counts[Count.ENTERED]),
            "arrived": float(n_arrived),
            "crashed": float(self.counts[Count.CRASHED]),
            "present": float(self.num_present()),
        }

    # ----------------------------------------------------------------------------- render

    caption = "metagame traffic"

    def _frame(self) -> np.ndarray:
        from metagame.envs.traffic.render import TrafficRenderer

        if self._renderer is None:
            self._renderer = TrafficRenderer(self)
        return self._renderer.frame()
