"""Evaluation: fill the population's payoff table with matches, then rate and solve it.

``evaluate`` plays every missing evaluation profile of active players (one member per role;
see :func:`profiles`) through ``metagame.agents.arena`` and commits each result with a
unique key ``A|B|k``, so an interrupted evaluation resumes without losing or duplicating a row;
a sample of matches is saved as replays named by the match id (``replays/match_000042.*``).
``rate`` builds the empirical game over the populations
(:mod:`metagame.league.empirical_game`) from the matches, or from exact expected returns where
the league computes them (:mod:`metagame.league.exact_payoffs`), solves it, recomputes the
ratings from every match (in match order, so they are a function of the store alone) and
records them with the meta-strategy, its NashConv on the empirical game and, where it is
exact, the exploitability of the league's mixture in the real game. Neither needs Ray.
"""

from __future__ import annotations

import functools
import itertools
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metagame.league import phases
from metagame.league.empirical_game import (
    default_solver,
    empirical_game,
    member_values,
    solve_meta_game,
)
from metagame.league.game_spec import GameSpec
from metagame.league.ratings import match_scores, standings
from metagame.league.run_dir import REPLAYS_DIR
from metagame.league.store import Player, Store

CROSS_PLAY = "cross-play|"  # the key prefix of a team's cross-play matches


def stable_seed(*parts: Any) -> int:
    """A seed that depends only on ``parts`` (not on Python's hash randomization)."""
    return zlib.crc32("|".join(map(str, parts)).encode()) & 0x7FFFFFFF


def profiles(spec: GameSpec, players: Sequence[Player]) -> list[tuple[Player, ...]]:
    """The evaluation profiles (one player per role, in role order) of the active players.

    Roles tied into one population: every multiset of members but the all-alike ones (a
    player against copies of itself teaches nothing), each in its cyclic seatings. Separate
    populations: every combination of one member per role. One role: each member alone.
    """
    by_population = {pop: [p for p in players if p.population == pop] for pop in spec.populations}
    roles = list(spec.roles)
    if len(roles) == 1:
        return [(p,) for p in players]
    if spec.symmetric:
        pool = by_population[next(iter(spec.populations))]
        out = []
        for combo in itertools.combinations_with_replacement(pool, len(roles)):
            if len({p.id for p in combo}) > 1:
                out += [combo[k:] + combo[:k] for k in range(len(combo))]
        return out
    return list(itertools.product(*(by_population[spec.population_of(r)] for r in roles)))


@dataclass(frozen=True)
class Seating:
    """Who plays where in one evaluation block: the players by seat, each agent's seat, the
    seats' names and the prefix of the block's match keys."""

    players: tuple[Player, ...]
    agent_seats: tuple[int, ...]  # per agent of spec.agents, in env order
    seats: tuple[str, ...]
    prefix: str = ""


def seatings(spec: GameSpec, players: Sequence[Player]) -> list[Seating]:
    """Every evaluation block: the profiles (a seat per role), and for a team (one role of
    several agents) and every crowd role the cross-play blocks, whose agents of that role
    alternate between two members."""
    role_index = {a: k for k, agents in enumerate(spec.roles.values()) for a in agents}
    per_role = tuple(role_index[a] for a in spec.agents)
    out = [Seating(block, per_role, tuple(spec.roles)) for block in profiles(spec, players)]
    team = len(spec.roles) == 1 and len(spec.agents) > 1
    for role in spec.roles:
        if team or role in spec.crowds:
            out += _cross_seatings(spec, role, players)
    return out


def _cross_seatings(spec: GameSpec, crowd: str, players: Sequence[Player]) -> list[Seating]:
    """Cross-play blocks of a team or crowd role: each pair of its population's members splits
    its agents (even and odd in the role's order: seats ``role/even`` and ``role/odd``), each
    other role played by every member of its population in turn. A seat's return is its
    agents' mean, so every agent's return counts for the member it played."""
    roles = list(spec.roles)
    c = roles.index(crowd)
    seats = (*roles[:c], f"{crowd}/even", f"{crowd}/odd", *roles[c + 1 :])
    order = {a: k for k, a in enumerate(spec.roles[crowd])}

    def seat(agent: str) -> int:
        k = roles.index(spec.role_of(agent))
        return k + order[agent] % 2 if k == c else k + (k > c)

    members = {r: [p for p in players if p.population == spec.population_of(r)] for r in spec.roles}
    others = [members[r] for r in roles if r != crowd]
    agent_seats = tuple(seat(a) for a in spec.agents)
    return [
        Seating((*rest[:c], *pair, *rest[c:]), agent_seats, seats, CROSS_PLAY)
        for pair in itertools.combinations(members[crowd], 2)
        for rest in itertools.product(*others)
    ]


def evaluate(
    store: Store,
    spec: GameSpec,
    policy: Callable[[Player], Any],
    *,
    episodes_per_pair: int,
    replay_fraction: float,
    seed: int,
    iteration: int,
) -> int:
    """Plays the missing evaluation matches; returns how many rows were committed.

    ``episodes_per_pair`` episodes per profile of players, shared among its seatings.
    """
    from metagame.agents.arena import play

    blocks = seatings(spec, store.players(active_only=True))
    rotations = len(spec.roles) if spec.symmetric else 1
    per_block = max(1, episodes_per_pair // rotations)
    done = store.match_keys()
    added = 0
    for block in blocks:
        ids = [p.id for p in block.players]
        keys = [f"{block.prefix}{'|'.join(ids)}|{k}" for k in range(per_block)]
        if all(k in done for k in keys):
            continue
        base = stable_seed(seed, *([block.prefix] if block.prefix else []), *ids)
        policies = [policy(block.players[seat]) for seat in block.agent_seats]
        result = play(
            spec.name,
            policies,
            episodes=per_block,
            seed=base,
            env_kwargs=spec.kwargs,
            record=replay_fraction > 0,
        )
        for k, key in enumerate(keys):
            if key in done:
                continue
            returns = _seat_returns(block.agent_seats, len(ids), result.returns[k])
            winner = _winner(returns)
            recorded = result.replays is not None and _recorded(key, replay_fraction)
            added += (
                store.record_match(
                    key,
                    iteration=iteration,
                    players=ids,
                    seats=list(block.seats),
                    outcome="draw" if winner is None else ids[winner],
                    returns=returns,
                    length=int(result.lengths[k]),
                    seed=base + k,
                    save_replay=functools.partial(_save_replay, store.run_dir, result.replays[k])
                    if recorded
                    else None,
                )
                is not None
            )
        phases.reached("evaluation", iteration)
    return added


def _seat_returns(agent_seats: Sequence[int], seats: int, agent_returns: np.ndarray):
    """Each seat's mean agent return."""
    agent_seats = np.asarray(agent_seats)
    return [float(np.mean(agent_returns[agent_seats == s])) for s in range(seats)]


def _winner(returns: Sequence[float]) -> int | None:
    """The seat with the unique highest return (None for a draw or one seat)."""
    if len(returns) < 2:
        return None
    best = max(returns)
    return returns.index(best) if returns.count(best) == 1 else None


def cross_play(matches: Sequence[Any], ids: Sequence[str]) -> np.ndarray:
    """A team's (or crowd's) cross-play table: ``C[i, j]`` is the mean return of the role
    when members i and j split its agents (i on the even ones), ``C[i, i]`` member i's own
    return (a team's profile match); NaN where nothing was played. How well members
    coordinate with each other (a team game's analogue of a payoff table); for a crowd, the
    other roles' members are averaged over."""
    index = {pid: k for k, pid in enumerate(ids)}
    total, count = np.zeros((len(ids), len(ids))), np.zeros((len(ids), len(ids)))
    for m in matches:
        split = [k for k, seat in enumerate(m.seats) if seat.endswith(("/even", "/odd"))]
        seats = split if len(split) == 2 else range(len(m.players)) if len(m.players) == 1 else []
        if not seats or not all(m.players[k] in index for k in seats):
            continue
        i, j = index[m.players[seats[0]]], index[m.players[seats[-1]]]
        pairs = [(i, j), (j, i)] if i != j else [(i, i)]
        for a, b in pairs:
            total[a, b] += float(np.mean([m.returns[k] for k in seats]))
            count[a, b] += 1
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _recorded(key: str, replay_fraction: float) -> bool:
    """Whether the match with ``key`` keeps a replay (a fixed sample of ``replay_fraction``)."""
    return stable_seed(key) % 10_000 < replay_fraction * 1e4


def replay_name(match_id: int) -> str:
    """A match's replay file, relative to the run directory: named by the match id."""
    return f"{REPLAYS_DIR}/match_{match_id:06d}.replay.json.gz"


def replay_file(store: Store, match_id: int | None = None) -> Path:
    """The replay file of match ``match_id`` (the newest recorded match when None).

    The path stored in the database must lie inside the run directory (symbolic links
    resolved); errors name the matches that do have replays.
    """
    recorded = store.replay_matches()
    if match_id is None and not recorded:
        raise ValueError(f"no match in {store.run_dir} has a recorded replay")
    match = store.match(recorded[-1] if match_id is None else match_id)
    if not match.replay:
        listed = ", ".join(map(str, recorded[:20])) + (", ..." if len(recorded) > 20 else "")
        have = f"matches with replays: {listed}" if recorded else "no match has one"
        raise ValueError(f"match {match.id} has no recorded replay ({have})")
    root = store.run_dir.resolve()
    path = (root / match.replay).resolve()
    if not path.is_relative_to(root):
        raise ValueError(
            f"match {match.id}: its replay path {match.replay!r} lies outside the run "
            f"directory {store.run_dir}"
        )
    return path


def _save_replay(run_dir: Path, replay: Any, match_id: int) -> str:
    name = replay_name(match_id)
    replay.save(run_dir / name)
    return name


def rate(
    store: Store,
    spec: GameSpec,
    policy: Callable[[Player], Any],
    *,
    iteration: int,
    solver: str = "auto",
    exploitability: bool = True,
    answer: Any = None,
) -> dict[str, Any]:
    """Solves the empirical game over the active players and records ratings and the
    meta-strategy (``solver``: one of ``empirical_game.META_SOLVERS`` or ``auto``, see
    ``empirical_game.default_solver``), with the exact exploitability of the league's answer
    where OpenSpiel computes it: the meta-strategy's mixture, or ``answer``'s
    (:class:`metagame.league.restricted_answer.RestrictedAnswer`) over the active players."""
    from metagame.league.exploitability import mixture_exploitability

    with store.transaction():
        players = store.players(active_only=True)
        matches = store.matches()
        entries = game_entries(store, matches)
    game = population_game(spec, players, entries)
    solution = solve_meta_game(game, default_solver(game) if solver == "auto" else solver)
    values = member_values(game, solution)
    alpha = solve_meta_game(game, "alpharank") if len(players) > 1 else solution
    index = {p.id: (p.population, game.members[p.population].index(p.id)) for p in players}

    def per_player(table: dict[str, np.ndarray]) -> np.ndarray:
        return np.array([float(table[pop][k]) for pop, k in index.values()])

    ids = [p.id for p in players]
    probs = per_player(solution.strategies)
    s = standings(
        matches,
        ids,
        nash=probs,
        nash_rating=per_player(values),
        alpharank=per_player(alpha.strategies),
        one_player=not spec.competitive,
        crowd=bool(spec.crowds),
        scores=match_scores(spec.name),
    )
    store.record_ratings(iteration, s.rows())
    expl = None
    if exploitability and answer is not None:
        expl = answer.exploitability(players)
    elif exploitability and spec.competitive:
        expl = mixture_exploitability(
            spec.name,
            spec.kwargs,
            [policy(p) for p in players],
            [
                [
                    float(solution.strategies[pop][k]) if pop == spec.population_of(role) else 0.0
                    for pop, k in index.values()
                ]
                for role in spec.roles
            ],
        )
    store.record_meta_strategy(
        iteration,
        solver=solution.solver,
        players=ids,
        probs=probs,
        joint=solution.joint,
        nash_conv=solution.nash_conv,
        exploitability=expl,
    )
    return {
        "standings": s,
        "meta": dict(zip(ids, probs.tolist())),
        "nash_conv": solution.nash_conv,
        "exploitability": expl,
    }


def game_entries(store: Store, matches: Sequence[Any]) -> Sequence[Any]:
    """What the empirical game rests on: the exact expected returns where the league computes
    them (an exact league records one for every profile), else ``matches``."""
    return store.expected_returns() or matches


def population_game(spec: GameSpec, players: Sequence[Player], entries: Sequence[Any]):
    """The empirical game of ``entries`` (matches or exact expected returns) over the
    populations' ``players``."""
    members = {pop: [p.id for p in players if p.population == pop] for pop in spec.populations}
    return empirical_game(entries, spec.seat_roles, members, symmetric=spec.symmetric)


def policy_cache(run_dir: str | Path) -> Callable[[Player], Any]:
    """Loads each player's policy once (stochastic, as it trained).

    Keyed by player id, not by ``functools.cache`` on the ``Player``: the store hands out a new
    ``Player`` for the same player once it is retired, and that must not load it again."""
    from metagame.league.population import load_player

    cache: dict[str, Any] = {}

    def get(player: Player) -> Any:
        if player.id not in cache:
            cache[player.id] = load_player(run_dir, player)
        return cache[player.id]

    return get
