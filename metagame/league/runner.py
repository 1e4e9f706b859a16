"""The league runner: self-play with a population on Ray, RLlib's new API stack.

One RLlib Algorithm holds the trainable learners (``main``; or a PSRO best response; or
AlphaStar's main agents and exploiters) and a fixed number of frozen opponent *slots*:
inference-only copies whose weights are swapped in each iteration from the population's
checkpoints, so the module set never grows (the design of Vinyals et al. 2019 with a bounded
set of opponent slots, rather than RLlib's add-a-module-per-snapshot league example).

Each iteration:

1. matchmaking builds every learner's opponent distribution (PFSP, PSRO meta-strategy or the
   AlphaStar branches, see :mod:`metagame.league.matchmaking`), fills the slots and installs the
   resulting :class:`MatchTable` in every EnvRunner;
2. inside the EnvRunners, the first call of the agent-to-module mapping of an episode draws
   that episode's pairing (stored in the episode's ``custom_data``, keyed by the episode), and
   the episode-end callback tallies (learner, opponent, win/draw/loss) and env steps in the
   EnvRunner's process; the driver collects the tallies after training (not through RLlib's
   ``MetricsLogger``, whose state a restored checkpoint does not reproduce exactly);
3. ``Algorithm.train()``; the counts go to the store's ``games`` table;
4. snapshots by the mode's rules become players (policy checkpoints, then a store row);
5. evaluation matches between new players and the population (``metagame.agents.arena``), each
   committed as it finishes; ratings, the meta-strategy and, where exact, the exploitability of
   the league's mixture are recorded; an RLlib checkpoint is saved every ``checkpoint_every``.

An iteration is one unit: its rows carry its number and it is committed by the checkpoint
marker (see :mod:`metagame.league.store`). At the start of every iteration every process's
random generators (torch, NumPy, Python, the matchmaking draws) are reseeded from the league's
seed and the iteration, so an iteration's outcome is a function of the last checkpoint alone.
A SIGKILL at any moment therefore loses only the iteration in progress: resume discards what
that iteration wrote (rows and orphan files), restores the last RLlib checkpoint and re-runs
it, and the league ends row for row as a run that was never killed. A run killed before its
first checkpoint (taken once the initial players are rated) resumes from scratch.
:mod:`metagame.league.phases` names the phases, and pauses the runner at one for kill tests.
"""

from __future__ import annotations

import csv
import fcntl
import functools
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from ray.rllib.callbacks.callbacks import RLlibCallback

from metagame.league import config as config_mod
from metagame.league import matchmaking as mm
from metagame.league import phases
from metagame.league.config import LeagueConfig
from metagame.league.evaluation import REPLAYS_DIR, evaluate, policy_cache, rate, stable_seed
from metagame.league.population import PLAYERS_DIR, CheckpointError, player_weights, save_player
from metagame.league.store import DB_NAME, LOCK_FILE, Player, Store

PAIRING_KEY = "metagame_league_pairing"
CHECKPOINTS_DIR = "checkpoints"
PROGRESS_FILE = "progress.csv"

# Per-process state of an EnvRunner (or of the driver when it samples itself): the iteration's
# match table and draws, and the tallies of its finished episodes.
_RUNTIME = SimpleNamespace(table=None, seats=(), rng=np.random.default_rng(0), games={}, steps=0)


class LeagueBusyError(ValueError):
    """The run directory is in use by another league process."""


# -- inside the EnvRunners ------------------------------------------------------------------------


def install_table(table: mm.MatchTable, seats: tuple[str, ...], seed: int, env_runner: Any) -> None:
    """Installs an iteration's match table in one EnvRunner (called via foreach_env_runner)."""
    _RUNTIME.table = table
    _RUNTIME.seats = seats
    _RUNTIME.rng = np.random.default_rng([seed, int(getattr(env_runner, "worker_index", 0))])


def reseed(seed: int, worker: Any) -> None:
    """Seeds a process's torch, NumPy and Python generators (via foreach_env_runner/learner)
    and starts its episode tallies afresh."""
    from ray.rllib.utils.debug import update_global_seed_if_necessary

    index = int(getattr(worker, "worker_index", 0) or 0)
    update_global_seed_if_necessary("torch", stable_seed(seed, index))
    _RUNTIME.games, _RUNTIME.steps = {}, 0


def tallies(env_runner: Any) -> tuple[dict[tuple[str, str], list[int]], int]:
    """This process's (learner, opponent) -> [wins, draws, losses] and env steps this
    iteration (via foreach_env_runner)."""
    return _RUNTIME.games, _RUNTIME.steps


def _set_module_state(state: dict[str, Any], env_runner: Any) -> None:
    env_runner.set_state({**state, "weights_seq_no": 0})  # 0: applied whatever the runner's


def kl_coefficients(learner: Any) -> dict[str, float]:
    """A PPO-family learner's adaptive KL coefficients, which RLlib's checkpoints omit."""
    coefficients = getattr(learner, "curr_kl_coeffs_per_module", {})
    return {module: float(value) for module, value in coefficients.items()}


def set_kl_coefficients(values: dict[str, float], learner: Any) -> None:
    for module, value in values.items():
        learner.curr_kl_coeffs_per_module[module].data.fill_(value)


def agent_to_module(agent_id: str, episode: Any, **kwargs: Any) -> str:
    """RLlib's agent-to-module mapping: the episode's pairing, drawn at its first call.

    The pairing is kept in the episode's ``custom_data`` with the learner's agent id, so the
    episode-end callback needs nothing from this process.
    """
    try:
        entry = episode.custom_data.get(PAIRING_KEY)
    except AttributeError:
        # MultiAgentEpisode.cut() builds its successor with known module ids but still calls
        # the mapping eagerly, before custom_data exists; RLlib discards this answer.
        return _RUNTIME.table.learners[0]
    if entry is None:
        if _RUNTIME.table is None:
            raise RuntimeError("league match table not installed in this EnvRunner")
        pairing = mm.draw_pairing(_RUNTIME.table, _RUNTIME.rng)
        entry = (pairing, _RUNTIME.seats[pairing.seat])
        episode.custom_data[PAIRING_KEY] = entry
    pairing, learner_agent = entry
    return pairing.learner if agent_id == learner_agent else pairing.opponent_module


def _agent_returns(episodes: list[Any]) -> dict[str, float]:
    returns: dict[str, float] = {}
    for chunk in episodes:
        for agent, single in chunk.agent_episodes.items():
            returns[agent] = returns.get(agent, 0.0) + float(single.get_return())
    return returns


class LeagueCallbacks(RLlibCallback):
    """Tallies each finished episode's env steps and (learner, opponent, outcome)."""

    def on_episode_end(self, *, episode, prev_episode_chunks=None, **kwargs):
        chunks = [*(prev_episode_chunks or []), episode]
        _RUNTIME.steps += sum(int(chunk.env_steps()) for chunk in chunks)
        entry = getattr(episode, "custom_data", {}).get(PAIRING_KEY)
        if entry is None or entry[0].opponent is None:
            return
        pairing, learner_agent = entry
        returns = _agent_returns(chunks)
        mine = returns.get(learner_agent, 0.0)
        best_other = max((r for a, r in returns.items() if a != learner_agent), default=0.0)
        outcome = 0 if mine > best_other else 2 if mine < best_other else 1
        record = _RUNTIME.games.setdefault((pairing.learner, pairing.opponent), [0, 0, 0])
        record[outcome] += 1


# -- the driver ------------------------------------------------------------------------------------


@dataclass
class Learner:
    """A trainable role: its RLlib module id, role, and state since its last snapshot."""

    module: str
    role: str
    parent: str | None = None
    steps_since: int = 0
    record_since: list[int] = field(default_factory=lambda: [0, 0, 0])


def learners_of(cfg: LeagueConfig, num_seats: int) -> list[Learner]:
    if num_seats == 1:
        from ray.rllib.core import DEFAULT_MODULE_ID

        return [Learner(DEFAULT_MODULE_ID, "main")]
    if cfg.mode == "selfplay":
        return [Learner("main", "main")]
    if cfg.mode == "psro":
        return [Learner("response", "psro")]
    a = cfg.alphastar
    return (
        [Learner(f"main_{i}", "main") for i in range(a.main_agents)]
        + [Learner(f"main_exploiter_{i}", "main_exploiter") for i in range(a.main_exploiters)]
        + [Learner(f"league_exploiter_{i}", "league_exploiter") for i in range(a.league_exploiters)]
    )


class League:
    """A league run in a run directory; ``run()`` trains until a budget or a stop request."""

    def __init__(
        self,
        cfg: LeagueConfig,
        run_dir: str | Path,
        *,
        resume: bool = False,
        display: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.display = display or (lambda info: None)
        self._lock_fd: int | None = None
        self._policy = policy_cache(self.run_dir)
        self._weights: dict[str, dict[str, np.ndarray]] = {}
        self._tb = None

    # -- setup ----------------------------------------------------------------------------------
    def _acquire(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LeagueBusyError(
                f"run directory {self.run_dir} is in use by another league"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def _release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _game(self) -> tuple[str, dict[str, Any], tuple[str, ...]]:
        from metagame.envs import make

        game = self.cfg.game
        env = make(game.name, **game.kwargs)
        seats = tuple(env.possible_agents)
        spaces = {(repr(env.observation_space(a)), repr(env.action_space(a))) for a in seats}
        env.close()
        if len(spaces) > 1:
            raise ValueError(
                f"{game.name}: the league needs a symmetric game (every seat with the same "
                f"spaces), got {len(spaces)} different seat spaces"
            )
        return game.name, dict(game.kwargs), seats

    def _algorithm_config(self):
        """The RLlib AlgorithmConfig, validated (no Ray needed); RLlib's objections to the
        config's hyperparameters are ValueErrors naming ``learners``."""
        from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

        from metagame.agents.rllib import module_spec, rllib_config

        name, kwargs, seats = self.game
        lc = self.cfg.learners
        algo_cfg = rllib_config(name, algo=lc.algo, env_kwargs=kwargs, **lc.hparams, **lc.model)
        if self.num_seats > 1:
            spec = module_spec(name, kwargs, agent=seats[0], algo=lc.algo, **lc.model)
            modules = [lr.module for lr in self.learners] + self.slots
            algo_cfg = algo_cfg.multi_agent(
                policies=modules,  # a list: module construction order, so seeding, is fixed
                policy_mapping_fn=agent_to_module,
                policies_to_train=[lr.module for lr in self.learners],
            ).rl_module(
                rl_module_spec=MultiRLModuleSpec(rl_module_specs=dict.fromkeys(modules, spec))
            )
        algo_cfg = (
            algo_cfg.callbacks(LeagueCallbacks)
            .env_runners(
                num_env_runners=self.cfg.ray.num_env_runners,
                num_envs_per_env_runner=self.cfg.ray.num_envs_per_env_runner,
                # no episode straddles two iterations, whose slots hold different players
                batch_mode="complete_episodes",
            )
            .resources(placement_strategy=self.cfg.ray.placement_strategy)
            .debugging(seed=self.cfg.seed)
        )
        _check_numbers(type(algo_cfg)(), lc.hparams)
        try:
            algo_cfg.validate()
        except (ValueError, TypeError) as err:
            raise ValueError(f"config key learners: RLlib rejects it: {err}") from None
        return algo_cfg

    def check(self):
        """Checks the config without Ray or writing anything (the game, then RLlib's
        validation of the learner); returns the AlgorithmConfig. ValueError names the key."""
        self.game = self._game()
        self.num_seats = len(self.game[2])
        self.learners = learners_of(self.cfg, self.num_seats)
        self.slots = [f"slot_{i}" for i in range(self.cfg.matchmaking.slots)]
        if self.num_seats == 1:
            self.slots = []
        return self._algorithm_config()

    def setup(self) -> None:
        """Checks everything, then takes the run directory and builds (or restores) the
        league. A new run writes nothing before its config has been accepted by RLlib."""
        algo_cfg = self.check()
        created = not self.run_dir.exists()
        self._acquire()
        try:
            self._setup(algo_cfg)
        except BaseException:
            self._release()
            if created and not (self.run_dir / DB_NAME).exists():
                shutil.rmtree(self.run_dir, ignore_errors=True)
            raise

    def _setup(self, algo_cfg) -> None:
        from metagame.agents.rllib import init_ray

        checkpoint = None
        if self.resume:
            self.store = Store(self.run_dir)
            checkpoint = self.store.get_meta("checkpoint")
            self._discard_uncommitted(checkpoint)
        init_ray(self.cfg.ray.address)
        self.algo = algo_cfg.build_algo()
        if not self.resume:
            config_mod.save(self.cfg, self.run_dir / "config.yaml")
            self.store = Store(self.run_dir, create=True)
        self.store.set_meta(config=self.cfg.model_dump(mode="json"), stop_requested=False)
        self._modules = {lr.module: self._driver_module() for lr in self.learners}
        self._initial = {lr.module: self._learner_weights(lr.module) for lr in self.learners}
        if checkpoint is not None:
            self._restore(checkpoint)
        else:  # a new run, or one killed before its first checkpoint: from scratch
            self.store.set_meta(status="starting", iteration=0, steps=0, wall=0.0)
            self.iteration, self.steps, self.wall = 0, 0, 0.0
            self._reseed()
            for lr in self.learners:
                self._snapshot(lr, "initial weights")
            self._evaluate()
            self._rate()
            phases.reached("setup", 0)
            self._checkpoint()
        self.store.set_meta(status="running", pid=os.getpid())

    def _discard_uncommitted(self, checkpoint: dict[str, Any] | None) -> None:
        """Removes what iterations after the last checkpoint wrote: rows, then orphan files."""
        committed = -1 if checkpoint is None else checkpoint["iteration"]
        self.store.rollback(committed)
        if checkpoint is not None:
            self.store.set_meta(
                iteration=committed, steps=checkpoint["steps"], wall=checkpoint["wall"]
            )
        keep = {p.checkpoint for p in self.store.players()}
        keep |= {m.replay for m in self.store.matches() if m.replay}
        keep |= {checkpoint["path"]} if checkpoint else set()
        for folder in (PLAYERS_DIR, REPLAYS_DIR, CHECKPOINTS_DIR):
            root = self.run_dir / folder
            for path in sorted(root.iterdir()) if root.is_dir() else ():
                if f"{folder}/{path.name}" not in keep:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        progress = self.run_dir / PROGRESS_FILE
        if progress.is_file():
            with progress.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["iteration"]) <= committed]
            _write_progress(progress, rows)

    def _driver_module(self):
        """A full (not inference-only) module in the driver, to save snapshots from."""
        from metagame.agents.rllib import module_spec

        name, kwargs, seats = self.game
        agent = seats[0] if self.num_seats > 1 else None
        lc = self.cfg.learners
        spec = module_spec(name, kwargs, agent=agent, algo=lc.algo, **lc.model)
        if spec.module_class is None:  # unmasked games use the algorithm's default module
            spec.module_class = self.algo.config.get_default_rl_module_spec().module_class
        return spec.build()

    # -- state ----------------------------------------------------------------------------------
    def _learner_weights(self, module: str) -> dict[str, np.ndarray]:
        return self.algo.learner_group.get_weights([module])[module]

    def _set_weights(self, weights: dict[str, dict[str, np.ndarray]]) -> None:
        """Sets module weights in the learner and every EnvRunner (inference-only copies).

        RLlib's ``sync_weights`` skips an EnvRunner whose weights sequence number has caught up
        with the learner's, which after the first training iteration left the opponent slots
        holding stale players; a state with sequence number 0 is always applied.
        """
        self.algo.learner_group.set_weights(weights)
        state = self.algo.learner_group.get_state(
            components=[f"learner/rl_module/{module}" for module in weights], inference_only=True
        )["learner"]
        self.algo.env_runner_group.foreach_env_runner(
            functools.partial(_set_module_state, {"rl_module": state["rl_module"]}),
            local_env_runner=True,
        )

    def _learner_state(self) -> list[dict[str, Any]]:
        kl = next(iter(self.algo.learner_group.foreach_learner(kl_coefficients))).get()
        return [
            {
                "module": lr.module,
                "parent": lr.parent,
                "steps_since": lr.steps_since,
                "record_since": lr.record_since,
                "kl_coeff": kl.get(lr.module),
            }
            for lr in self.learners
        ]

    def _checkpoint(self) -> None:
        """Saves the RLlib checkpoint, then commits the iteration (the checkpoint marker, with
        the league's counters, in one transaction); older checkpoints go after the commit."""
        root = self.run_dir / CHECKPOINTS_DIR
        path = root / f"iteration_{self.iteration:05d}"
        self.algo.save_to_path(str(path.resolve()))
        phases.reached("checkpoint", self.iteration)
        self.store.set_meta(
            iteration=self.iteration,
            steps=self.steps,
            wall=self.wall,
            checkpoint={
                "path": str(path.relative_to(self.run_dir)),
                "iteration": self.iteration,
                "steps": self.steps,
                "wall": self.wall,
                "learners": self._learner_state(),
            },
        )
        for old in root.iterdir():
            if old != path:
                shutil.rmtree(old, ignore_errors=True)

    def _restore(self, ckpt: dict[str, Any]) -> None:
        path = self.run_dir / ckpt["path"]
        if not path.is_dir():
            raise ValueError(f"league checkpoint not found: {path}")
        try:
            self.algo.restore_from_path(str(path.resolve()))
        except Exception as err:  # RLlib raises assorted errors on a damaged checkpoint
            raise ValueError(
                f"league checkpoint {path} is corrupt: {type(err).__name__}: {err}"
            ) from None
        self.iteration, self.steps, self.wall = ckpt["iteration"], ckpt["steps"], ckpt["wall"]
        for lr, saved in zip(self.learners, ckpt["learners"], strict=True):
            lr.parent, lr.steps_since = saved["parent"], saved["steps_since"]
            lr.record_since = list(saved["record_since"])
        kl = {s["module"]: s["kl_coeff"] for s in ckpt["learners"] if s["kl_coeff"] is not None}
        self.algo.learner_group.foreach_learner(functools.partial(set_kl_coefficients, kl))

    # -- population -----------------------------------------------------------------------------
    def _snapshot(self, lr: Learner, reason: str) -> Player:
        module = self._modules[lr.module]
        module.set_state(self._learner_weights(lr.module))
        player = save_player(
            self.store,
            module,
            lr.role,
            parent=lr.parent,
            step=self.steps,
            iteration=self.iteration,
            reason=reason,
        )
        lr.parent = player.id
        lr.steps_since = 0
        lr.record_since = [0, 0, 0]
        return player

    def _slot_weights(self, player: Player) -> dict[str, np.ndarray]:
        if player.id not in self._weights:
            self._weights[player.id] = player_weights(self.run_dir, player)
        return self._weights[player.id]

    def _prune(self) -> None:
        active = self.store.players(active_only=True)
        excess = len(active) - self.cfg.max_players
        if excess <= 0:
            return
        keep = {lr.parent for lr in self.learners}
        latest = {r["player"]: r for r in self.store.ratings()}
        # retire the players with the least Nash mass, then the lowest mu, oldest first
        order = sorted(
            (p for p in active if p.id not in keep),
            key=lambda p: (
                latest.get(p.id, {}).get("nash", 0.0),
                latest.get(p.id, {}).get("mu", 0.0),
                p.seq,
            ),
        )
        for p in order[:excess]:
            self.store.retire(p.id, self.iteration)

    # -- matchmaking ----------------------------------------------------------------------------
    def _distributions(self, frozen: list[Player]) -> dict[str, dict[str, float]]:
        games = self.store.games()
        ids = [p.id for p in frozen]
        mk = self.cfg.matchmaking
        if self.cfg.mode == "selfplay":
            lr = self.learners[0]
            pfsp = mm.pfsp_distribution(lr.module, ids, games, mk.pfsp, mk.exponent)
            share = self.cfg.selfplay.self_fraction
            return {lr.module: mm.mix((share, {lr.module: 1.0}), (1 - share, pfsp))}
        if self.cfg.mode == "psro":
            lr = self.learners[0]
            latest = self.store.meta_strategies()
            last = latest[-1] if latest else None
            if last is None or not set(last["players"]) <= set(ids):
                return {lr.module: mm.normalized({i: 1.0 for i in ids})}
            return {lr.module: mm.normalized(dict(zip(last["players"], last["probs"])))}
        ctx = mm.RoleContext(
            games=games,
            players={p.id: p.role for p in frozen},
            parents=self._parents(frozen),
            mains=[lr.module for lr in self.learners if lr.role == "main"],
            weighting=mk.pfsp,
            exponent=mk.exponent,
        )
        a = self.cfg.alphastar
        return {
            lr.module: mm.alphastar_distribution(
                lr.module, lr.role, ctx, main_selfplay=a.main_selfplay, main_pfsp=a.main_pfsp
            )
            for lr in self.learners
        }

    def _parents(self, frozen: list[Player]) -> dict[str, str]:
        """Frozen player id -> the learner module whose snapshot it is (by lineage)."""
        by_id = {p.id: p for p in self.store.players()}
        heads = {lr.parent: lr.module for lr in self.learners}
        out: dict[str, str] = {}
        for p in frozen:
            node: Player | None = p
            while node is not None and node.id not in heads:
                children = [c for c in by_id.values() if c.parent == node.id]
                node = max(children, key=lambda c: c.seq) if children else None
            if node is not None:
                out[p.id] = heads[node.id]
        return out

    def _reseed(self) -> None:
        """Seeds every EnvRunner and Learner process from the league's seed and the iteration."""
        seed = functools.partial(reseed, stable_seed(self.cfg.seed, self.iteration, "rng"))
        self.algo.env_runner_group.foreach_env_runner(seed, local_env_runner=True)
        self.algo.learner_group.foreach_learner(seed)

    def _tallies(self) -> tuple[dict[tuple[str, str], tuple[int, int, int]], int]:
        """Every EnvRunner's (learner, opponent) -> (wins, draws, losses) and env steps."""
        games: dict[tuple[str, str], np.ndarray] = {}
        steps = 0
        for runner_games, runner_steps in self.algo.env_runner_group.foreach_env_runner(
            tallies, local_env_runner=True
        ):
            steps += runner_steps
            for key, record in runner_games.items():
                games[key] = games.get(key, 0) + np.asarray(record)
        return {k: tuple(int(x) for x in v) for k, v in sorted(games.items())}, steps

    def _install(self) -> mm.MatchTable:
        frozen = self.store.players(active_only=True)
        rng = np.random.default_rng([self.cfg.seed, self.iteration, 1])
        table = mm.plan_slots(
            self._distributions(frozen) if self.num_seats > 1 else {},
            [lr.module for lr in self.learners],
            self.slots,
            rng,
            self.num_seats,
        )
        if self.num_seats > 1:
            by_id = {p.id: p for p in frozen}
            if table.slots:
                self._set_weights({s: self._slot_weights(by_id[p]) for s, p in table.slots.items()})
            self.algo.env_runner_group.foreach_env_runner(
                functools.partial(
                    install_table, table, self.game[2], stable_seed(self.cfg.seed, self.iteration)
                ),
                local_env_runner=True,
            )
        return table

    # -- the loop -------------------------------------------------------------------------------
    def step(self) -> dict[str, Any]:
        """One iteration: matchmaking, training, snapshots, evaluation, ratings, checkpoint."""
        start = time.time()
        timers: dict[str, float] = {}

        def lap(name: str) -> None:
            timers[name] = round(time.time() - start - sum(timers.values()), 3)

        table = self._install()
        self._reseed()  # after loading slot players, whose module construction draws from torch
        result = self.algo.train()
        steps_before = self.steps
        counts, steps = self._tallies()
        self.steps += steps
        self.iteration += 1
        phases.reached("training", self.iteration)
        self.store.add_games(self.iteration, counts)
        lap("train")
        new = self._snapshots(counts, self.steps - steps_before)
        phases.reached("snapshot", self.iteration)
        self._evaluate()
        self._prune()
        lap("evaluate")
        info = self._rate()
        phases.reached("rating", self.iteration)
        lap("rate")
        self.wall += time.time() - start
        sps = (self.steps - steps_before) / max(time.time() - start, 1e-9)
        self.store.record_iteration(
            self.iteration,
            steps=self.steps,
            wall=self.wall,
            steps_per_s=sps,
            league_size=len(self.store.players(active_only=True)),
            metrics={
                "slots": dict(table.slots),
                "new_players": [p.id for p in new],
                "seconds": timers,
                "games": {f"{a} vs {b}": v for (a, b), v in counts.items()},
                "return_mean": _episode_return(result),
            },
        )
        if self.iteration % self.cfg.checkpoint_every == 0:
            self._checkpoint()
        else:
            self.store.set_meta(iteration=self.iteration, steps=self.steps, wall=self.wall)
        info.update(
            iteration=self.iteration,
            steps=self.steps,
            steps_per_s=sps,
            wall=self.wall,
            new_players=[p.id for p in new],
            slots=dict(table.slots),
        )
        self._log(info, result)
        return info

    def _snapshots(self, counts: dict, steps: int) -> list[Player]:
        total_games = sum(sum(v) for v in counts.values()) or 1
        for lr in self.learners:
            mine = {k: v for k, v in counts.items() if k[0] == lr.module}
            share = sum(sum(v) for v in mine.values()) / total_games
            lr.steps_since += int(steps * (share if counts else 1.0 / len(self.learners)))
            for w, d, l in mine.values():
                lr.record_since = [
                    lr.record_since[0] + w,
                    lr.record_since[1] + d,
                    lr.record_since[2] + l,
                ]
        new = []
        if self.cfg.mode == "alphastar" and self.num_seats > 1:
            a = self.cfg.alphastar
            rng = np.random.default_rng([self.cfg.seed, self.iteration, 2])
            for lr in self.learners:
                games = sum(lr.record_since)
                rate = mm.win_rate(tuple(lr.record_since))
                beaten = lr.role != "main" and games >= a.min_games and rate >= a.snapshot_win_rate
                if beaten or lr.steps_since >= a.snapshot_timeout_steps:
                    why = f"win rate {rate:.2f}" if beaten else f"{lr.steps_since} steps"
                    new.append(self._snapshot(lr, why))
                    reset = lr.role == "main_exploiter" or (
                        lr.role == "league_exploiter"
                        and rng.random() < a.exploiter_reset_probability
                    )
                    if reset:
                        self._set_weights({lr.module: self._initial[lr.module]})
            return new
        every = (
            self.cfg.psro.iterations_per_response
            if self.cfg.mode == "psro" and self.num_seats > 1
            else self.cfg.selfplay.snapshot_every
        )
        if self.iteration % every == 0:
            for lr in self.learners:
                new.append(self._snapshot(lr, f"every {every} iterations"))
                if self.cfg.mode == "psro" and self.cfg.psro.reset_response:
                    self._set_weights({lr.module: self._initial[lr.module]})
        return new

    def _evaluate(self) -> None:
        evaluate(
            self.store,
            self.game,
            self._policy,
            episodes_per_pair=self.cfg.evaluation.episodes_per_pair,
            replay_fraction=self.cfg.evaluation.replay_fraction,
            seed=self.cfg.seed,
            iteration=self.iteration,
        )

    def _rate(self) -> dict[str, Any]:
        psro = self.cfg.mode == "psro"
        return rate(
            self.store,
            self.game,
            self._policy,
            iteration=self.iteration,
            solver=self.cfg.psro.meta_solver if psro else "nash",
            response=self.learners[0].parent if psro else None,
            exploitability=self.cfg.evaluation.exploitability,
        )

    def _log(self, info: dict[str, Any], result: dict[str, Any]) -> None:
        row = {
            "iteration": info["iteration"],
            "steps": info["steps"],
            "wall": round(info["wall"], 3),
            "steps_per_s": round(info["steps_per_s"], 1),
            "league_size": len(info["meta"]),
            "exploitability": info["exploitability"],
            "return_mean": _episode_return(result),
        }
        path = self.run_dir / PROGRESS_FILE
        new_file = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new_file:
                writer.writeheader()
            writer.writerow(row)
        if self._tb is not None:
            for key, value in row.items():
                if value is not None and key != "iteration":
                    self._tb.add_scalar(f"league/{key}", value, info["iteration"])
            self._tb.flush()

    def _budget_spent(self) -> tuple[str, str] | None:
        return self.cfg.budget.spent(self.iteration, self.steps, self.wall)

    def run(self) -> dict[str, Any]:
        """Trains until a budget is reached or ``league stop`` asks; returns the last info,
        with ``status`` (``finished``, ``out of time`` or ``stopped``) and ``reason``."""
        from tensorboardX import SummaryWriter

        self.setup()
        # a resumed run drops the TensorBoard events of the iterations it re-runs
        self._tb = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.iteration + 1)
        info: dict[str, Any] = {}
        try:
            while (spent := self._budget_spent()) is None:
                info = self.step()
                self.display(info)
                if self.store.get_meta("stop_requested", False):
                    spent = ("stopped", "stopped by `league stop`")
                    break
            if self.iteration % self.cfg.checkpoint_every != 0:
                self._checkpoint()
            status, reason = spent
            self.store.set_meta(status=status, stop_reason=reason, stop_requested=False)
        finally:
            self._tb.close()
            self.algo.stop()
            self.store.close()
            self._release()
        info.update(status=status, reason=reason, iteration=self.iteration)
        return info


def _check_numbers(defaults: Any, hparams: dict[str, Any]) -> None:
    """Refuses a non-number (text, a mapping, a boolean) for a hyperparameter RLlib defaults
    to a number; lists stay allowed (RLlib's schedules)."""
    for key, value in hparams.items():
        default = getattr(defaults, key, None)
        number = isinstance(default, int | float) and not isinstance(default, bool)
        if number and (isinstance(value, bool) or not isinstance(value, int | float | list)):
            raise ValueError(f"config key learners.hparams.{key}: must be a number, got {value!r}")


def _write_progress(path: Path, rows: list[dict[str, str]]) -> None:
    """Rewrites progress.csv with ``rows`` (atomically: a temporary file renamed over it)."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        if rows:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    tmp.replace(path)


def _episode_return(result: dict[str, Any]) -> float | None:
    value = result.get("env_runners", {}).get("episode_return_mean")
    return None if value is None or not np.isfinite(value) else float(value)


__all__ = ["CheckpointError", "League", "LeagueBusyError", "agent_to_module"]
