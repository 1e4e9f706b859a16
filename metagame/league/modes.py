"""League modes: who trains, whom each trainee meets, and when a trainee becomes a player.

The runner (:mod:`metagame.league.runner`) is a template method in the manner of OpenSpiel's
psro_v2 (train the trainees -> update the empirical game -> update the meta-strategies); a mode
fills in its three variable steps behind one small protocol:

- :meth:`Mode.trainees`: the RLlib modules that learn, one or more per population;
- :meth:`Mode.distributions`: each trainee's opponent distribution per population;
- :meth:`Mode.snapshots`: which trainees become frozen players now (and which restart).

Modes:

- :class:`SelfPlay`: one trainee per population against PFSP over the population's snapshots
  and, ``self_fraction`` of the time, against the live trainees (Vinyals et al. 2019);
- :class:`PSRO`: one best response per population trained against the meta-strategy of the
  empirical game (Lanctot et al. 2017), snapshot every ``iterations_per_response``;
- :class:`XDO`: PSRO's responses trained against the equilibrium of the restricted game
  (McAleer et al. 2021), one table module playing it;
- :class:`AlphaStar`: main agents, main exploiters and league exploiters (Vinyals et al. 2019),
  for games whose roles share one population.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from metagame.league import matchmaking as mm
from metagame.league.config import LeagueConfig
from metagame.league.game_spec import GameSpec
from metagame.league.store import Player

Distributions = dict[str, dict[str, dict[str, float]]]  # trainee -> population -> label -> p
RESTRICTED = "restricted_nash"  # the module (and opponent label) of XDO's restricted equilibrium


@dataclass
class Trainee:
    """A trainable RLlib module: its kind, population, last snapshot, and record since then
    (steps, wins/draws/losses, and its score in each iteration: see :func:`score`)."""

    module: str
    kind: str
    population: str
    parent: str | None = None
    steps_since: int = 0
    record_since: list[int] = field(default_factory=lambda: [0, 0, 0])
    scores_since: list[float] = field(default_factory=list)

    def credit(self, steps: int, records: Sequence[Sequence[int]]) -> None:
        """Adds one iteration's env steps and (wins, draws, losses) records."""
        self.steps_since += steps
        total = np.sum(np.asarray(records, dtype=np.int64).reshape(-1, 3), axis=0)
        self.record_since = [int(a + b) for a, b in zip(self.record_since, total, strict=True)]
        self.scores_since.append(score(total))

    def restart(self, parent: str) -> None:
        """After a snapshot: the new player is the parent, the record starts again."""
        self.parent, self.steps_since = parent, 0
        self.record_since, self.scores_since = [0, 0, 0], []


def score(record: Sequence[int]) -> float:
    """The share of points won, (wins + draws / 2) / games; NaN with no game."""
    wins, draws, losses = record
    games = wins + draws + losses
    return (wins + draws / 2) / games if games else float("nan")


def plateaued(scores: Sequence[float], patience: int, min_gain: float) -> bool:
    """Whether the last ``patience`` scores all stayed below the best score before them plus
    ``min_gain``: the early-stopping rule with patience (a NaN score never counts as a gain)."""
    if len(scores) <= patience:
        return False
    before = np.asarray(scores[:-patience], dtype=np.float64)
    if np.all(np.isnan(before)):
        return False
    recent = np.asarray(scores[-patience:], dtype=np.float64)
    return not np.any(recent >= np.nanmax(before) + min_gain)


@dataclass(frozen=True)
class Snapshot:
    """A mode's decision: snapshot ``trainee`` (``reason``), then restart it if ``reset``."""

    trainee: Trainee
    reason: str
    reset: bool = False


@dataclass(frozen=True)
class LeagueView:
    """What a mode sees of the league when it matches trainees with opponents."""

    games: Mapping[tuple[str, str], tuple[int, int, int]]  # (trainee, label) -> W/D/L
    frozen: Sequence[Player]  # the active players
    meta: Mapping[str, float]  # the last meta-strategy: player id -> probability
    parents: Mapping[str, str]  # frozen player id -> the trainee whose snapshot it is


class Mode:
    """The protocol every mode implements (see the module docstring)."""

    name: ClassVar[str]
    kind: ClassVar[str]  # the trainees' kind, and their module name for one population
    trains: ClassVar[bool] = True  # False: the mode adds computed responses, not trained ones
    restricted: ClassVar[bool] = False  # True: trainees meet the restricted game's equilibrium

    def __init__(self, cfg: LeagueConfig, spec: GameSpec):
        self.cfg = cfg
        self.spec = spec

    solver_key: ClassVar[str] = "evaluation.meta_solver"  # the config key of meta_solver

    @classmethod
    def check(cls, cfg: LeagueConfig, spec: GameSpec) -> None:
        """Refuses a game this mode cannot serve (ValueError naming the config key)."""

    def check_solver(self) -> None:
        """Refuses an exact Nash meta-solver for more than two seats (none exists here)."""
        if self.meta_solver == "nash" and len(self.spec.roles) > 2:
            raise ValueError(
                f"config key {self.solver_key}: nash has no exact solver for the "
                f"{len(self.spec.roles)} roles of {self.spec.name}; use auto, prd, alpharank, "
                "ce or cce"
            )

    @property
    def meta_solver(self) -> str:
        return self.cfg.evaluation.meta_solver

    def trainees(self) -> list[Trainee]:
        """One trainee per population, named ``kind`` (or ``kind_<population>``)."""
        pops = list(self.spec.populations)
        return [
            Trainee(self.kind if len(pops) == 1 else f"{self.kind}_{pop}", self.kind, pop)
            for pop in pops
        ]

    def distributions(self, trainees: Sequence[Trainee], view: LeagueView) -> Distributions:
        raise NotImplementedError

    def snapshots(
        self, trainees: Sequence[Trainee], iteration: int, rng: np.random.Generator
    ) -> list[Snapshot]:
        raise NotImplementedError

    def _every(self, trainees: Sequence[Trainee], iteration: int, every: int, reset: bool):
        if iteration % every:
            return []
        return [Snapshot(t, f"every {every} iterations", reset) for t in trainees]


def _frozen_of(view: LeagueView, population: str) -> list[str]:
    return [p.id for p in view.frozen if p.population == population]


def _live(trainees: Sequence[Trainee], population: str) -> dict[str, float]:
    return {t.module: 1.0 for t in trainees if t.population == population}


class SelfPlay(Mode):
    name = "selfplay"
    kind = "main"

    def distributions(self, trainees: Sequence[Trainee], view: LeagueView) -> Distributions:
        mk, share = self.cfg.matchmaking, self.cfg.mode.self_fraction
        out: Distributions = {}
        for t in trainees:
            out[t.module] = {}
            for pop in self.spec.populations:
                frozen = _frozen_of(view, pop)
                pfsp = mm.pfsp_distribution(t.module, frozen, view.games, mk.pfsp, mk.exponent)
                out[t.module][pop] = mm.mix((share, _live(trainees, pop)), (1 - share, pfsp))
        return out

    def snapshots(self, trainees, iteration, rng):
        return self._every(trainees, iteration, self.cfg.mode.snapshot_every, False)


class PSRO(Mode):
    name = "psro"
    kind = "response"
    solver_key = "mode.meta_solver"

    @classmethod
    def check(cls, cfg: LeagueConfig, spec: GameSpec) -> None:
        if cfg.mode.meta_solver == "rectified" and not (spec.symmetric and len(spec.roles) == 2):
            raise ValueError(
                "config key mode.meta_solver: rectified Nash serves symmetric two-player games "
                f"only; {spec.name} has roles {list(spec.roles)} in "
                f"{len(spec.populations)} population(s)"
            )

    @property
    def meta_solver(self) -> str:
        solver = self.cfg.mode.meta_solver
        return "nash" if solver == "rectified" else solver

    def distributions(self, trainees: Sequence[Trainee], view: LeagueView) -> Distributions:
        out: Distributions = {}
        for t in trainees:
            out[t.module] = {}
            for pop in self.spec.populations:
                frozen = _frozen_of(view, pop)
                if not set(frozen) <= set(view.meta):
                    out[t.module][pop] = mm.normalized(dict.fromkeys(frozen, 1.0))
                    continue
                sigma = {pid: view.meta[pid] for pid in frozen}
                if self.cfg.mode.meta_solver == "rectified":
                    sigma = self._rectified(sigma, t.module, view)
                out[t.module][pop] = mm.normalized(sigma)
        return out

    @staticmethod
    def _rectified(sigma: dict[str, float], response: str, view: LeagueView) -> dict[str, float]:
        """Nash mass on the opponents the response beats or ties in its training games
        (Balduzzi et al. 2019, "Open-ended learning in symmetric zero-sum games")."""
        kept = {
            pid: p
            for pid, p in sigma.items()
            if mm.win_rate(view.games.get((response, pid))) >= 0.5
        }
        return kept if sum(kept.values()) > 0 else sigma

    def snapshots(self, trainees, iteration, rng):
        p = self.cfg.mode
        if p.response_patience is None:
            return self._every(trainees, iteration, p.iterations_per_response, p.reset_response)
        return [Snapshot(t, why, p.reset_response) for t in trainees if (why := self._done(t))]

    def _done(self, t: Trainee) -> str | None:
        """Why the response ``t`` is done: it stopped improving against the meta-strategy, or
        it used its ``iterations_per_response``; None while it trains on."""
        p, scores = self.cfg.mode, t.scores_since
        if plateaued(scores, p.response_patience, p.response_min_gain):
            best = np.nanmax(np.asarray(scores, dtype=np.float64))
            gain, patience = p.response_min_gain, p.response_patience
            return f"score {best:.3f}, no gain of {gain} in {patience} iterations"
        if len(scores) >= p.iterations_per_response:
            return f"{len(scores)} iterations"
        return None


class ExactPSRO(PSRO):
    """PSRO whose oracle is exact: each iteration adds OpenSpiel's best response to the
    meta-strategy (``metagame.agents.exact_response``) instead of a trained one; the reference
    the RL oracles are measured against (Lanctot et al. 2017 use it the same way)."""

    trains = False

    @classmethod
    def check(cls, cfg: LeagueConfig, spec: GameSpec) -> None:
        super().check(cfg, spec)
        from metagame.agents.exact_response import exact_best_response

        _one_population(spec, "config key mode.oracle: exact")
        try:  # a best response to uniform play: refuses the games it cannot serve
            exact_best_response(spec.name, [_uniform], [1.0], env_kwargs=spec.kwargs)
        except ValueError as err:
            raise ValueError(f"config key mode.oracle: exact: {err}") from None

    def snapshots(self, trainees, iteration, rng):
        return []


def _one_population(spec: GameSpec, what: str) -> None:
    """Refuses (ValueError starting with ``what``) a game whose roles do not share one
    population of competitors."""
    if len(spec.populations) != 1 or not spec.competitive:
        raise ValueError(
            f"{what} serves competitive games whose roles share one population; "
            f"{spec.name} has populations {list(spec.populations)}"
        )


def _uniform(observation) -> np.ndarray:
    mask = np.asarray(observation["action_mask"], dtype=np.float64)
    return mask / mask.sum()


class XDO(PSRO):
    """Extensive-form double oracle (McAleer et al. 2021): PSRO's loop and response schedule,
    but each response is trained against the equilibrium of the restricted game, the game cut
    down at each information state to the actions the players propose there
    (:mod:`metagame.agents.restricted_game`), which one table module plays; that equilibrium
    is also the league's answer. Where PSRO's normal-form meta-game mixes whole players, the
    restricted game mixes at every information state, so it needs far fewer responses (on
    Leduc poker, 14 exact ones to an exploitability of 0.002)."""

    name = "xdo"
    restricted = True

    @classmethod
    def check(cls, cfg: LeagueConfig, spec: GameSpec) -> None:
        _one_population(spec, "config key mode: xdo")

    def distributions(self, trainees: Sequence[Trainee], view: LeagueView) -> Distributions:
        return {t.module: {t.population: {RESTRICTED: 1.0}} for t in trainees}


class AlphaStar(Mode):
    name = "alphastar"
    kind = "main"

    @classmethod
    def check(cls, cfg: LeagueConfig, spec: GameSpec) -> None:
        _one_population(spec, "config key mode: alphastar")

    def trainees(self) -> list[Trainee]:
        a, pop = self.cfg.mode, next(iter(self.spec.populations))
        kinds = [("main", a.main_agents), ("main_exploiter", a.main_exploiters)] + [
            ("league_exploiter", a.league_exploiters)
        ]
        return [Trainee(f"{kind}_{i}", kind, pop) for kind, n in kinds for i in range(n)]

    def distributions(self, trainees: Sequence[Trainee], view: LeagueView) -> Distributions:
        pop = next(iter(self.spec.populations))
        mk, a = self.cfg.matchmaking, self.cfg.mode
        ctx = mm.RoleContext(
            games=view.games,
            players={p.id: p.kind for p in view.frozen},
            parents=view.parents,
            mains=[t.module for t in trainees if t.kind == "main"],
            weighting=mk.pfsp,
            exponent=mk.exponent,
        )
        return {
            t.module: {
                pop: mm.alphastar_distribution(
                    t.module, t.kind, ctx, main_selfplay=a.main_selfplay, main_pfsp=a.main_pfsp
                )
            }
            for t in trainees
        }

    def snapshots(self, trainees, iteration, rng):
        a = self.cfg.mode
        out = []
        for t in trainees:
            games = sum(t.record_since)
            rate = mm.win_rate(tuple(t.record_since))
            beaten = t.kind != "main" and games >= a.min_games and rate >= a.snapshot_win_rate
            if beaten or t.steps_since >= a.snapshot_timeout_steps:
                why = f"win rate {rate:.2f}" if beaten else f"{t.steps_since} steps"
                reset = t.kind == "main_exploiter" or (
                    t.kind == "league_exploiter" and rng.random() < a.exploiter_reset_probability
                )
                out.append(Snapshot(t, why, reset))
        return out


MODES: dict[str, type[Mode]] = {m.name: m for m in (SelfPlay, PSRO, XDO, AlphaStar)}


def mode_for(cfg: LeagueConfig, spec: GameSpec) -> Mode:
    """The config's mode for the game (after its checks)."""
    cls = MODES[cfg.mode.name]
    if cls is PSRO and cfg.mode.oracle == "exact":
        cls = ExactPSRO
    cls.check(cfg, spec)
    mode = cls(cfg, spec)
    mode.check_solver()
    return mode
