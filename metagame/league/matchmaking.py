"""Matchmaking: who plays whom, decided per episode from per-learner opponent distributions.

- PFSP, prioritized fictitious self-play (Vinyals et al. 2019, "Grandmaster level in StarCraft
  II using multi-agent reinforcement learning", Nature 575): opponent ``j`` is drawn with weight
  ``f(x_j)`` where ``x_j`` is the learner's win rate against ``j``; ``hard`` is ``(1 - x)^p``,
  ``variance`` is ``x (1 - x)``, ``linear`` is ``1 - x``, ``linear_capped`` is
  ``min(1/2, 1 - x)``. When every weight vanishes the draw falls back to uniform.
- AlphaStar roles: main agents, main exploiters and league exploiters, each a distribution over
  opponents (live learners or frozen players) built from its branch probabilities.

An opponent *label* is a frozen player's id or a live learner's module id. A learner's distributions
are kept per population (the roles it meets). The driver turns them into a :class:`MatchTable`
(each population's fixed opponent slots filled with the players drawn for this iteration);
EnvRunners draw one :class:`Assignment` per episode from it with :func:`draw_assignment`: the
learner plays one party of its population (a role, or one agent of a crowd role), every other
party a member drawn for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

PFSP_WEIGHTINGS = ("hard", "variance", "linear", "linear_capped", "uniform")


def pfsp_weights(win_rates: Sequence[float], weighting: str = "hard", p: float = 2.0):
    """PFSP probabilities over opponents given the learner's win rates against them."""
    x = np.asarray(win_rates, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"win_rates must be a non-empty vector, got shape {x.shape}")
    if np.isnan(x).any() or (x < 0).any() or (x > 1).any():
        raise ValueError("win_rates must lie in [0, 1]")
    if weighting == "hard":
        w = (1.0 - x) ** p
    elif weighting == "variance":
        w = x * (1.0 - x)
    elif weighting == "linear":
        w = 1.0 - x
    elif weighting == "linear_capped":
        w = np.minimum(0.5, 1.0 - x)
    elif weighting == "uniform":
        w = np.ones_like(x)
    else:
        raise ValueError(
            f"PFSP weighting must be one of {list(PFSP_WEIGHTINGS)}, got {weighting!r}"
        )
    total = w.sum()
    return w / total if total > 0 else np.full_like(x, 1.0 / x.size)


def win_rate(record: tuple[int, int, int] | None, prior: float = 0.5) -> float:
    """(wins + draws / 2) / games from a (wins, draws, losses) record; ``prior`` with no games."""
    if record is None or sum(record) == 0:
        return prior
    wins, draws, losses = record
    return (wins + 0.5 * draws) / (wins + draws + losses)


def normalized(weights: Mapping[str, float]) -> dict[str, float]:
    """Drops non-positive entries and rescales to sum one (uniform if all vanish)."""
    positive = {k: float(v) for k, v in weights.items() if v > 0}
    total = sum(positive.values())
    if total <= 0:
        return {k: 1.0 / len(weights) for k in weights} if weights else {}
    return {k: v / total for k, v in positive.items()}


def pfsp_distribution(
    learner: str,
    opponents: Sequence[str],
    games: Mapping[tuple[str, str], tuple[int, int, int]],
    weighting: str,
    p: float = 2.0,
) -> dict[str, float]:
    """PFSP over ``opponents`` from the learner's training-game records."""
    if not opponents:
        return {}
    rates = [win_rate(games.get((learner, o))) for o in opponents]
    return dict(zip(opponents, pfsp_weights(rates, weighting, p), strict=True))


def mix(*parts: tuple[float, Mapping[str, float]]) -> dict[str, float]:
    """Sum of weighted distributions; a part with no support hands its weight to the others."""
    live = [(w, d) for w, d in parts if d and w > 0]
    out: dict[str, float] = {}
    for w, d in live:
        for k, v in d.items():
            out[k] = out.get(k, 0.0) + w * v
    return normalized(out)


@dataclass(frozen=True)
class RoleContext:
    """What an AlphaStar role needs to choose its opponents."""

    games: Mapping[tuple[str, str], tuple[int, int, int]]
    players: Mapping[str, str]  # frozen player id -> role ("main", "main_exploiter", ...)
    parents: Mapping[str, str]  # frozen player id -> learner module that produced it
    mains: Sequence[str]  # live main agents' module ids
    weighting: str = "hard"
    exponent: float = 2.0


def alphastar_distribution(
    learner: str,
    role: str,
    ctx: RoleContext,
    *,
    main_selfplay: float = 0.35,
    main_pfsp: float = 0.5,
) -> dict[str, float]:
    """Opponent distribution of one AlphaStar learner (the branches of Vinyals et al. 2019).

    - main: ``main_pfsp`` PFSP over every frozen player; ``main_selfplay`` against a live main
      (or, if it is losing to it, PFSP-variance over that main's snapshots); the rest verifies
      against main exploiters' snapshots and forgotten snapshots it does not beat.
    - main exploiter: a live main, unless it wins under 10% against it, then PFSP-variance over
      the mains' snapshots.
    - league exploiter: PFSP over every frozen player.
    """
    frozen = list(ctx.players)
    rate = {o: win_rate(ctx.games.get((learner, o))) for o in frozen + list(ctx.mains)}

    def pfsp(opponents: Sequence[str], weighting: str | None = None) -> dict[str, float]:
        return pfsp_distribution(
            learner, opponents, ctx.games, weighting or ctx.weighting, ctx.exponent
        )

    main_snapshots = [p for p in frozen if ctx.parents.get(p) in ctx.mains]
    if role == "main":
        selfplay: dict[str, float] = {}
        for m in ctx.mains:
            snaps = [p for p in main_snapshots if ctx.parents[p] == m]
            branch = {m: 1.0} if rate[m] > 0.3 or not snaps else pfsp(snaps, "variance")
            for k, v in branch.items():
                selfplay[k] = selfplay.get(k, 0.0) + v / len(ctx.mains)
        exploiters = [p for p in frozen if ctx.players[p] == "main_exploiter" and rate[p] < 0.3]
        forgotten = [p for p in main_snapshots if rate[p] < 0.7]
        verification = pfsp(exploiters, "variance") if exploiters else pfsp(forgotten)
        rest = 1.0 - main_selfplay - main_pfsp
        return mix((main_pfsp, pfsp(frozen)), (main_selfplay, selfplay), (rest, verification))
    if role == "main_exploiter":
        beaten = [m for m in ctx.mains if rate[m] >= 0.1]
        if beaten or not main_snapshots:
            return normalized({m: 1.0 for m in ctx.mains})
        return pfsp(main_snapshots, "variance")
    if role == "league_exploiter":
        return pfsp(frozen) if frozen else normalized({m: 1.0 for m in ctx.mains})
    raise ValueError(f"AlphaStar role must be main, main_exploiter or league_exploiter: {role!r}")


@dataclass(frozen=True)
class Assignment:
    """One episode's players: the learner and the party it plays, and every party's module
    (RLlib module id) and label (frozen player id or live learner module). A party is a role,
    or one agent of a crowd role (``metagame.league.game_spec``)."""

    learner: str
    party: str
    modules: Mapping[str, str]  # party -> module id
    labels: Mapping[str, str]  # party -> player id or learner module

    def opponents(self) -> dict[str, str]:
        """Party -> label, for every party but the learner's."""
        return {p: label for p, label in self.labels.items() if p != self.party}


@dataclass(frozen=True)
class MatchTable:
    """An iteration's matchmaking, installed in every EnvRunner.

    ``parties`` maps each party of a match to the population playing it (in the env's order)
    and ``learners`` each learner module to its population. ``opponents[learner][population]``
    lists ``(module_id, label, probability)``: a frozen player's module is the slot it was
    loaded into, a live learner's module is its own id.
    """

    learners: Mapping[str, str]
    parties: Mapping[str, str]
    opponents: Mapping[str, Mapping[str, tuple[tuple[str, str, float], ...]]]
    slots: Mapping[str, str] = field(default_factory=dict)  # slot module id -> player id


def plan_slots(
    distributions: Mapping[str, Mapping[str, Mapping[str, float]]],
    learners: Mapping[str, str],
    parties: Mapping[str, str],
    slot_ids: Mapping[str, Sequence[str]],
    rng: np.random.Generator,
    fixed: Mapping[str, str] | None = None,
) -> MatchTable:
    """Fills each population's fixed slots with frozen players drawn by their total mass.

    ``fixed`` maps fixed players (rule-based members) to the modules that always hold them;
    they take no slot.

    ``distributions[learner][population]`` weighs the labels (frozen players and live learners)
    the learner meets in that population's parties. Each is then restricted to the slotted
    players and the live learners and renormalized (uniform over the population's slots if
    nothing it asked for was slotted; the learner itself if the population has none).
    """
    slots: dict[str, str] = {}
    for population, ids in slot_ids.items():
        mass: dict[str, float] = {}
        for dist in distributions.values():
            for label, p in dist.get(population, {}).items():
                if label not in learners and label not in (fixed or {}):
                    mass[label] = mass.get(label, 0.0) + p
        frozen = sorted(mass)
        k = min(len(ids), len(frozen))
        if k:
            p = np.array([mass[f] for f in frozen])
            slots.update(zip(ids, rng.choice(frozen, size=k, replace=False, p=p / p.sum())))
    module_of = {player: slot for slot, player in slots.items()}
    module_of.update({name: name for name in learners})
    module_of.update(fixed or {})
    opponents: dict[str, dict[str, tuple[tuple[str, str, float], ...]]] = {}
    for learner in learners:
        opponents[learner] = {}
        for population in dict.fromkeys(parties.values()):
            dist = distributions.get(learner, {}).get(population, {})
            kept = normalized({o: w for o, w in dist.items() if o in module_of})
            if not kept:
                own = [p for s, p in slots.items() if s in slot_ids.get(population, ())]
                live = [m for m, pop in learners.items() if pop == population]
                kept = normalized(dict.fromkeys(own or live, 1.0))
            opponents[learner][population] = tuple(
                (module_of[o], o, w) for o, w in sorted(kept.items())
            )
    return MatchTable(dict(learners), dict(parties), opponents, slots)


def draw_assignment(table: MatchTable, rng: np.random.Generator) -> Assignment:
    """One episode's players: a uniform learner, a uniform party of its population for it
    (for a crowd: one of its agents), and for every other party a member drawn from the
    learner's distribution for that party's population, independently per party (so each
    agent of a crowd draws its own)."""
    names = list(table.learners)
    learner = names[int(rng.integers(len(names)))]
    mine = [p for p, pop in table.parties.items() if pop == table.learners[learner]]
    party = mine[int(rng.integers(len(mine)))]
    modules, labels = {}, {}
    for p, population in table.parties.items():
        options = table.opponents[learner].get(population, ())
        if p == party or not options:
            modules[p], labels[p] = learner, learner
            continue
        probs = np.array([w for _, _, w in options])
        modules[p], labels[p], _ = options[int(rng.choice(len(options), p=probs / probs.sum()))]
    return Assignment(learner, party, modules, labels)
