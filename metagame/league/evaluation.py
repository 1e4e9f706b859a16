"""Evaluation: fill the population's payoff table with matches, then rate and solve it.

``evaluate`` plays every missing evaluation match between active players (both seatings,
``episodes_per_pair`` in all) through ``metagame.agents.arena`` and commits each result with a
unique key ``A|B|k``, so an interrupted evaluation resumes without losing or duplicating a row;
a sample of matches is saved as replays named by the match id (``replays/match_000042.*``).
``rate`` recomputes the ratings from every match (in match order, so they are a function of
the store alone) and records them with the meta-strategy and, where it is exact, the
exploitability of the league's mixture. Neither needs Ray.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from metagame.league import matchmaking as mm
from metagame.league import phases
from metagame.league.ratings import standings
from metagame.league.store import Player, Store, payoff_table

REPLAYS_DIR = "replays"


def stable_seed(*parts: Any) -> int:
    """A seed that depends only on ``parts`` (not on Python's hash randomization)."""
    return zlib.crc32("|".join(map(str, parts)).encode()) & 0x7FFFFFFF


def evaluate(
    store: Store,
    game: tuple[str, dict[str, Any], Sequence[str]],
    policy: Callable[[Player], Any],
    *,
    episodes_per_pair: int,
    replay_fraction: float,
    seed: int,
    iteration: int,
) -> int:
    """Plays the missing evaluation matches; returns how many rows were committed."""
    from metagame.agents.arena import play

    name, kwargs, seats = game
    players = store.players(active_only=True)
    done = store.match_keys()
    if len(seats) == 1:
        blocks = [(p,) for p in players]
        per_block = episodes_per_pair
    else:
        blocks = [
            b for i, p in enumerate(players) for q in players[i + 1 :] for b in ((p, q), (q, p))
        ]
        per_block = episodes_per_pair // 2
    added = 0
    for block in blocks:
        ids = [p.id for p in block]
        keys = [f"{'|'.join(ids)}|{k}" for k in range(per_block)]
        if all(k in done for k in keys):
            continue
        base = stable_seed(seed, *ids)
        policies = [policy(p) for p in block] * (len(seats) // len(block))
        result = play(
            name,
            policies,
            episodes=per_block,
            seed=base,
            env_kwargs=kwargs,
            record=replay_fraction > 0,
        )
        for k, key in enumerate(keys):
            if key in done:
                continue
            recorded = result.replays is not None and _recorded(key, replay_fraction)
            outcome = int(result.outcomes[k])
            added += (
                store.record_match(
                    key,
                    iteration=iteration,
                    players=ids,
                    seats=list(seats[: len(ids)]),
                    outcome="draw" if outcome < 0 else ids[outcome],
                    returns=result.returns[k, : len(ids)],
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
    game: tuple[str, dict[str, Any], Sequence[str]],
    policy: Callable[[Player], Any],
    *,
    iteration: int,
    solver: str = "nash",
    response: str | None = None,
    exploitability: bool = True,
) -> dict[str, Any]:
    """Records ratings and the meta-strategy (``solver`` of ``matchmaking.meta_strategy``)."""
    from metagame.league.exploitability import mixture_exploitability

    name, kwargs, seats = game
    with store.transaction():
        players = store.players(active_only=True)
        matches = store.matches()
    ids = [p.id for p in players]
    payoffs, counts = payoff_table(matches, ids)
    s = standings(matches, ids, payoffs, counts, num_seats=len(seats))
    store.record_ratings(iteration, s.rows())
    if len(seats) == 1:
        probs = s.nash
    else:
        index = ids.index(response) if response in ids else None
        probs = mm.meta_strategy(payoffs, solver, response=index)
    expl = None
    if exploitability and len(seats) == 2:
        support = [k for k in range(len(ids)) if probs[k] > 1e-9]
        expl = mixture_exploitability(
            name, kwargs, [policy(players[k]) for k in support], probs[support]
        )
    store.record_meta_strategy(
        iteration, solver=solver, players=ids, probs=probs, exploitability=expl
    )
    return {
        "standings": s,
        "meta": dict(zip(ids, np.asarray(probs).tolist())),
        "exploitability": expl,
    }


def policy_cache(run_dir: str | Path) -> Callable[[Player], Any]:
    """Loads each player's policy once (stochastic, as it trained)."""
    from metagame.league.population import load_player

    cache: dict[str, Any] = {}

    def get(player: Player) -> Any:
        if player.id not in cache:
            cache[player.id] = load_player(run_dir, player)
        return cache[player.id]

    return get
