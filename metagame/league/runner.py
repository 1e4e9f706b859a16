"""The league runner: populations of players trained on Ray with RLlib's new API stack.

The game's roles (:mod:`metagame.league.game_spec`) are played by populations; the mode
(:mod:`metagame.league.modes`) says which *trainees* learn (one per population for self-play
and PSRO; AlphaStar's main agents and exploiters). One RLlib Algorithm holds the trainees and,
per population, a fixed number of frozen opponent *slots*: inference-only copies whose weights
are swapped in each iteration from the population's checkpoints, so the module set never grows
(the design of Vinyals et al. 2019 with a bounded set of opponent slots, rather than RLlib's
add-a-module-per-snapshot league example). All agents of a role map to one module, so RLlib's
EnvRunner runs one batched forward pass per module and step, however many agents play it.

Each iteration (:meth:`League.step`, a template method in the manner of OpenSpiel's psro_v2):

1. the mode builds every trainee's opponent distribution per population, the slots are filled
   and the resulting :class:`~metagame.league.matchmaking.MatchTable` is installed in every
   EnvRunner; inside them (:mod:`metagame.league.sampling`) each episode draws its assignment
   (the trainee's role, every other role's member) and the episode-end callback tallies
   (trainee, opponent, win/draw/loss) and env steps;
2. ``Algorithm.train()``; the counts go to the store's ``games`` table;
3. snapshots by the mode's rules become players (policy checkpoints, then a store row);
4. evaluation matches over the new profiles of players (``metagame.agents.arena``), each
   committed as it finishes, update the empirical game; it is solved for the meta-strategies
   (one mixture per population), with their NashConv on the empirical game and, where exact,
   the exploitability of the league's answer (that mixture, or the restricted game's
   equilibrium: :mod:`metagame.league.restricted_answer`) in the real game; an RLlib
   checkpoint is saved every ``checkpoint_every`` (:class:`~metagame.league.run_dir.RunDir`
   owns the files).

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

import functools
import importlib
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from metagame.league import config as config_mod
from metagame.league import matchmaking as mm
from metagame.league import phases, sampling
from metagame.league.config import RLLIB_ALGOS, LeagueConfig
from metagame.league.evaluation import evaluate, policy_cache, rate, stable_seed
from metagame.league.exact_payoffs import ExactPayoffs, walkable
from metagame.league.game_spec import GameSpec, game_spec
from metagame.league.modes import RESTRICTED, LeagueView, Mode, Trainee, mode_for
from metagame.league.population import CheckpointError, fixed_spec, player_weights, save_player
from metagame.league.restricted_answer import RestrictedAnswer
from metagame.league.run_dir import LeagueBusyError, RunDir
from metagame.league.store import Player, Store


@dataclass
class IterationInfo:
    """What one iteration did, for the display, the logs and ``run()``'s caller."""

    iteration: int
    steps: int
    steps_per_s: float
    wall: float
    meta: dict[str, float]  # active player -> meta-strategy probability (in its population)
    nash_conv: float | None  # of the meta-strategy on the empirical game
    exploitability: float | None  # of the league's answer in the real game, where exact
    standings: Any = None
    new_players: list[str] = field(default_factory=list)
    slots: dict[str, str] = field(default_factory=dict)
    return_mean: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    status: str = "running"
    reason: str = ""


class League:
    """A league run in a run directory; ``run()`` trains until a budget or a stop request.

    The loop (:meth:`step`) is a template method: install the mode's matchmaking -> train the
    trainees -> snapshot by the mode's rules -> evaluate and update the empirical game -> solve
    it for the meta-strategies; :mod:`metagame.league.modes` fills in the mode's steps. The
    trainees learn in an RLlib Algorithm; a league whose learner is not an RLlib algorithm
    subclasses it and overrides the trainer's steps (``_build``, ``_train``,
    ``_snapshot_policy``, ``_evaluate``, ``_save_trainer``/``_load_trainer``, ``_reseed``,
    ``_stop_trainer``), as :class:`metagame.league.sequence.SequenceLeague` does;
    :func:`league_for` picks the class.
    """

    algos: ClassVar[tuple[str, ...]] = RLLIB_ALGOS  # the learners.algo values this class trains
    exact_exploitability: ClassVar[bool] = True  # the game may have an exact exploitability

    def __init__(
        self,
        cfg: LeagueConfig,
        run_dir: str | Path,
        *,
        resume: bool = False,
        display: Callable[[IterationInfo], None] | None = None,
    ):
        self.cfg = cfg
        self.run_dir = RunDir(run_dir)
        self.resume = resume
        self.display = display or (lambda info: None)
        self._policy = policy_cache(self.run_dir.path)
        self._weights: dict[str, dict[str, np.ndarray]] = {}
        self._tb = None
        self._checked = None  # the AlgorithmConfig, once check() has accepted the config

    # -- setup ----------------------------------------------------------------------------------
    def check(self):
        """Checks the config without Ray or writing anything (the game and its roles, the mode,
        then RLlib's validation of the learner); returns the AlgorithmConfig. ValueError names
        the key."""
        g = self.cfg.game
        if self.cfg.learners.algo not in self.algos:
            raise ValueError(
                f"config key learners.algo: {type(self).__name__} trains {list(self.algos)}, "
                f"not {self.cfg.learners.algo} (metagame.league.runner.league_for picks the league)"
            )
        self.spec: GameSpec = game_spec(g.name, g.kwargs, g.roles, g.crowds)
        self.mode: Mode = mode_for(self.cfg, self.spec)
        self.trainees: list[Trainee] = self.mode.trainees()
        self.eval_spec = self._evaluation_spec()
        slots = self.cfg.matchmaking.slots if self.spec.multi_party else 0
        several = len(self.spec.populations) > 1
        self.slots = {
            pop: [f"slot_{pop}_{i}" if several else f"slot_{i}" for i in range(slots)]
            for pop in self.spec.populations
        }
        self.fixed = self._fixed_specs()
        self._exact = self._exact_payoffs()
        self._answer = self._restricted_answer()
        self._checked = self._algorithm_config()
        return self._checked

    def _fixed_specs(self) -> dict[str, Any]:
        """Module id -> (config, RLModule spec) of every fixed player; ValueError names the
        config key of one the game cannot take."""
        out: dict[str, Any] = {}
        for k, fixed in enumerate(self.cfg.fixed_players):
            key = f"config key fixed_players.{k}"
            if fixed.population not in self.spec.populations or not self.spec.multi_party:
                raise ValueError(
                    f"{key}.population: {fixed.population!r} is not a population with opponents "
                    f"to meet; {self.spec.name}'s populations: {list(self.spec.populations)}"
                )
            module = f"fixed_{fixed.population}_{fixed.policy.replace(':', '_')}"
            if module in out:
                raise ValueError(f"{key}: {fixed.policy} is already in {fixed.population}")
            try:
                out[module] = (fixed, fixed_spec(self.spec, fixed.population, fixed.policy))
            except ValueError as err:
                raise ValueError(f"{key}.policy: {err}") from None
        return out

    def _exact_payoffs(self) -> ExactPayoffs | None:
        """The exact entries of the empirical game, where the config and the game allow."""
        payoffs = self.cfg.evaluation.payoffs
        if payoffs == "sampled" or not self.spec.competitive:
            return None
        if payoffs == "auto" and not walkable(self.eval_spec):
            return None
        try:
            return ExactPayoffs(self.eval_spec, self._policy)
        except ValueError as err:
            raise ValueError(f"evaluation.payoffs: {err}") from None

    def _restricted_answer(self) -> RestrictedAnswer | None:
        """XDO's restricted game, when the config answers with it or the mode trains against
        its equilibrium."""
        ev = self.cfg.evaluation
        if ev.answer != "restricted_game" and not self.mode.restricted:
            return None
        return RestrictedAnswer(self.spec, self._policy, ev.answer_iterations)

    def _evaluation_spec(self) -> GameSpec:
        """The game of the evaluation matches: ``game.eval_kwargs`` over ``game.kwargs``, with
        the training game's agents and spaces (the players must be able to play it)."""
        g = self.cfg.game
        if not g.eval_kwargs:
            return self.spec
        spec = game_spec(g.name, {**g.kwargs, **g.eval_kwargs}, g.roles, g.crowds)
        if (spec.agents, spec.spaces) != (self.spec.agents, self.spec.spaces):
            raise ValueError(
                f"config key game.eval_kwargs: {g.name} made with them has other agents or "
                "spaces than the training game, so the players cannot play it"
            )
        return spec

    def _module_spec(self, population: str):
        from metagame.agents.rllib import module_spec

        lc = self.cfg.learners
        agent = self.spec.representative(population)
        return module_spec(self.spec.name, self.spec.kwargs, agent=agent, algo=lc.algo, **lc.model)

    def _population_of_module(self) -> dict[str, str]:
        out = {t.module: t.population for t in self.trainees}
        out |= {slot: pop for pop, ids in self.slots.items() for slot in ids}
        return out

    def _algorithm_config(self):
        """The RLlib AlgorithmConfig, validated (no Ray needed); RLlib's objections to the
        config's hyperparameters are ValueErrors naming ``learners``."""
        from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

        from metagame.agents.rllib import rllib_config
        from metagame.agents.rllib.train_batch import use_train_batch
        from metagame.agents.rllib.whole_batch_learner import use_whole_batch_learner

        lc = self.cfg.learners
        try:
            algo_cfg = rllib_config(
                self.spec.name,
                algo=lc.algo,
                env_kwargs=self.spec.kwargs,
                # the league replaces the module set below; this only has to accept the spaces
                sharing="all" if len(self.spec.populations) == 1 else "per_agent",
                **lc.hparams,
                **lc.model,
            )
        except ValueError as err:
            if lc.algo != "MAPPO":
                raise
            raise ValueError(f"config key learners.algo: {err}") from None  # the game's state
        if not self.spec.single_agent:
            owner = self._population_of_module()
            specs = {m: self._module_spec(pop) for m, pop in owner.items()}
            specs |= {m: spec for m, (_, spec) in self.fixed.items()}
            if self.mode.restricted:
                specs[RESTRICTED] = self._answer.module_spec()
            algo_cfg = algo_cfg.multi_agent(
                policies=list(specs),  # a list: module construction order, so seeding, is fixed
                policy_mapping_fn=sampling.agent_to_module,
                policies_to_train=[t.module for t in self.trainees],
            ).rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
        vector = self._env_runner()
        algo_cfg = (
            algo_cfg.callbacks(sampling.LeagueCallbacks)
            .env_runners(
                num_env_runners=self.cfg.ray.num_env_runners,
                num_envs_per_env_runner=self.cfg.ray.num_envs_per_env_runner,
                # no episode straddles two iterations, whose slots hold different players
                batch_mode="complete_episodes",
                **vector,
            )
            .resources(placement_strategy=self.cfg.ray.placement_strategy)
            .debugging(seed=self.cfg.seed)
        )
        if vector:  # PPO's batch from whole arrays, training modules only (same batch)
            algo_cfg = use_train_batch(algo_cfg)
        algo_cfg = use_whole_batch_learner(algo_cfg)  # PPO/MMD: the same updates, cheaper loop
        _check_numbers(type(algo_cfg)(), lc.hparams)
        try:
            algo_cfg.validate()
        except (ValueError, TypeError) as err:
            raise ValueError(f"config key learners: RLlib rejects it: {err}") from None
        return algo_cfg

    def _env_runner(self) -> dict[str, Any]:
        """The EnvRunner class's settings: the vectorised runner where the config asks for it
        (it samples its share of the train batch in whole episodes; fragments do not apply)."""
        from metagame.agents.rllib.vector_env_runner import VectorEnvRunner, serves

        choice = self.cfg.ray.env_runner
        if choice == "rllib" or self.spec.single_agent:
            return {}
        if not serves(self.spec.name, self.spec.kwargs):
            if choice == "vector":
                raise ValueError(
                    "config key ray.env_runner: vector serves turn-based OpenSpiel games; "
                    f"{self.spec.name} is not one (use auto or rllib)"
                )
            return {}
        return {"env_runner_cls": VectorEnvRunner, "rollout_fragment_length": "auto"}

    def setup(self) -> None:
        """Checks everything (unless :meth:`check` has), then takes the run directory and
        builds (or restores) the league. A new run writes nothing before its config has been
        accepted by RLlib."""
        algo_cfg = self._checked if self._checked is not None else self.check()
        created = not self.run_dir.path.exists()
        self.run_dir.acquire()
        try:
            self._setup(algo_cfg)
        except BaseException:
            self.run_dir.release()
            if created and not self.run_dir.is_league():
                shutil.rmtree(self.run_dir.path, ignore_errors=True)
            raise

    def _setup(self, algo_cfg) -> None:
        import torch

        torch.set_num_threads(self.cfg.ray.torch_threads)
        checkpoint = None
        if self.resume:
            self.store = Store(self.run_dir.path)
            checkpoint = self.store.get_meta("checkpoint")
            self._discard_uncommitted(checkpoint)
        self._build(algo_cfg)
        if not self.resume:
            config_mod.save(self.cfg, self.run_dir.config)
            self.store = Store(self.run_dir.path, create=True)
        self.store.set_meta(
            config=self.cfg.model_dump(mode="json"),
            roles={r: self.spec.population_of(r) for r in self.spec.roles},
            stop_requested=False,
        )
        if checkpoint is not None:
            self._restore(checkpoint)
        else:  # a new run, or one killed before its first checkpoint: from scratch
            self.store.set_meta(status="starting", iteration=0, steps=0, wall=0.0)
            self.iteration, self.steps, self.wall = 0, 0, 0.0
            self._reseed()
            for t in self.trainees:
                self._snapshot(t, "initial weights")
            for module, (fixed, spec) in self.fixed.items():
                save_player(
                    self.store,
                    spec.build(),
                    prefix=module,  # so the player's id names its module (see _fixed_modules)
                    kind="fixed",
                    population=fixed.population,
                    parent=None,
                    step=0,
                    iteration=0,
                    reason=f"fixed {fixed.policy}",
                )
            self._evaluate()
            self._rate()
            phases.reached("setup", 0)
            self._checkpoint()
        self.store.set_meta(status="running", pid=os.getpid())

    def _build(self, algo_cfg) -> None:
        """Builds the trainer: the RLlib Algorithm (on Ray), and a driver-side module per trainee
        to save snapshots from, with the trainees' initial weights."""
        from metagame.agents.rllib import init_ray

        # RLlib's seeding calls torch.use_deterministic_algorithms, whose first call imports
        # torch's compiler config (1-2 s): imported beside Ray's start, which mostly waits for
        # Ray's own processes (Ray starts in the main thread: its processes die with the thread
        # that started them)
        preload = threading.Thread(
            target=importlib.import_module, args=("torch._inductor.config",), daemon=True
        )
        preload.start()
        init_ray(self.cfg.ray.address)
        preload.join()
        self.algo = algo_cfg.build_algo()
        self._modules = {t.module: self._driver_module(t.population) for t in self.trainees}
        self._initial = {t.module: self.trainee_weights(t.module) for t in self.trainees}

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
        self.run_dir.remove_orphans(keep)
        self.run_dir.truncate_progress(committed)

    def _driver_module(self, population: str):
        """A full (not inference-only) module in the driver, to save snapshots from."""
        spec = self._module_spec(population)
        if spec.module_class is None:  # unmasked games use the algorithm's default module
            spec.module_class = self.algo.config.get_default_rl_module_spec().module_class
        return spec.build()

    # -- state ----------------------------------------------------------------------------------
    def _module_id(self, trainee: Trainee) -> str:
        """The trainee's RLlib module id (a one-agent game has RLlib's default module)."""
        from ray.rllib.core import DEFAULT_MODULE_ID

        return DEFAULT_MODULE_ID if self.spec.single_agent else trainee.module

    def trainee_weights(self, module: str) -> dict[str, np.ndarray]:
        """The learner's current weights of the trainee named ``module`` (NumPy arrays)."""
        trainee = next(t for t in self.trainees if t.module == module)
        rllib_id = self._module_id(trainee)
        return self.algo.learner_group.get_weights([rllib_id])[rllib_id]

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
            functools.partial(sampling.set_module_state, {"rl_module": state["rl_module"]}),
            local_env_runner=True,
        )

    def _kl_coefficients(self) -> dict[str, float]:
        """The learners' adaptive KL coefficients by RLlib module id (saved with checkpoints)."""
        return next(iter(self.algo.learner_group.foreach_learner(sampling.kl_coefficients))).get()

    def _trainee_state(self) -> list[dict[str, Any]]:
        kl = self._kl_coefficients()
        return [
            {
                "module": t.module,
                "parent": t.parent,
                "steps_since": t.steps_since,
                "record_since": t.record_since,
                "scores_since": t.scores_since,
                "kl_coeff": kl.get(self._module_id(t)),
            }
            for t in self.trainees
        ]

    def _checkpoint(self) -> None:
        """Saves the trainer's checkpoint, then commits the iteration (the checkpoint marker, with
        the league's counters, in one transaction); older checkpoints go after the commit."""
        path = self.run_dir.checkpoint(self.iteration)
        self._save_trainer(path)
        phases.reached("checkpoint", self.iteration)
        self.store.set_meta(
            iteration=self.iteration,
            steps=self.steps,
            wall=self.wall,
            checkpoint={
                "path": str(path.relative_to(self.run_dir.path)),
                "iteration": self.iteration,
                "steps": self.steps,
                "wall": self.wall,
                "learners": self._trainee_state(),
            },
        )
        self.run_dir.remove_old_checkpoints(path)

    def _save_trainer(self, path: Path) -> None:
        self.algo.save_to_path(str(path.resolve()))

    def _load_trainer(self, path: Path) -> None:
        self.algo.restore_from_path(str(path.resolve()))

    def _restore(self, ckpt: dict[str, Any]) -> None:
        path = self.run_dir / ckpt["path"]
        if not path.is_dir():
            raise ValueError(f"league checkpoint not found: {path}")
        try:
            self._load_trainer(path)
        except Exception as err:  # RLlib raises assorted errors on a damaged checkpoint
            raise ValueError(
                f"league checkpoint {path} is corrupt: {type(err).__name__}: {err}"
            ) from None
        self.iteration, self.steps, self.wall = ckpt["iteration"], ckpt["steps"], ckpt["wall"]
        for t, saved in zip(self.trainees, ckpt["learners"], strict=True):
            t.parent, t.steps_since = saved["parent"], saved["steps_since"]
            t.record_since = list(saved["record_since"])
            t.scores_since = list(saved.get("scores_since", []))  # older checkpoints: none
        kl = {
            self._module_id(t): s["kl_coeff"]
            for t, s in zip(self.trainees, ckpt["learners"], strict=True)
            if s["kl_coeff"] is not None
        }
        if kl:
            self.algo.learner_group.foreach_learner(
                functools.partial(sampling.set_kl_coefficients, kl)
            )

    # -- population -----------------------------------------------------------------------------
    def _snapshot_policy(self, t: Trainee) -> Any:
        """What a snapshot of ``t`` saves: its driver-side module with the trainee's weights."""
        module = self._modules[t.module]
        module.set_state(self.trainee_weights(t.module))
        return module

    def _snapshot(self, t: Trainee, reason: str, module: Any = None) -> Player:
        """Saves ``module`` (by default the trainee's current weights) as the trainee's next
        player, and starts its count of steps and record since the last snapshot again."""
        player = save_player(
            self.store,
            self._snapshot_policy(t) if module is None else module,
            prefix=t.module,
            kind=t.kind,
            population=t.population,
            parent=t.parent,
            step=self.steps,
            iteration=self.iteration,
            reason=reason,
        )
        t.restart(player.id)
        return player

    def _slot_weights(self, player: Player) -> dict[str, np.ndarray]:
        if player.id not in self._weights:
            self._weights[player.id] = player_weights(self.run_dir.path, player)
        return self._weights[player.id]

    def _prune(self) -> None:
        """Retires players beyond ``max_players`` (per population): least Nash mass, then
        lowest mu, oldest first; the trainees' latest snapshots stay."""
        keep = {t.parent for t in self.trainees} | set(self._fixed_modules())
        latest = {r["player"]: r for r in self.store.ratings()}
        for pop in self.spec.populations:
            active = [p for p in self.store.players(active_only=True) if p.population == pop]
            excess = len(active) - self.cfg.max_players
            if excess <= 0:
                continue
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
    def _view(self, frozen: list[Player]) -> LeagueView:
        latest = self.store.meta_strategies()
        meta = dict(zip(latest[-1]["players"], latest[-1]["probs"])) if latest else {}
        return LeagueView(self.store.games(), frozen, meta, self._parents(frozen))

    def _parents(self, frozen: list[Player]) -> dict[str, str]:
        """Frozen player id -> the trainee module whose snapshot it is (by lineage)."""
        by_id = {p.id: p for p in self.store.players()}
        heads = {t.parent: t.module for t in self.trainees}
        out: dict[str, str] = {}
        for p in frozen:
            node: Player | None = p
            while node is not None and node.id not in heads:
                children = [c for c in by_id.values() if c.parent == node.id]
                node = max(children, key=lambda c: c.seq) if children else None
            if node is not None:
                out[p.id] = heads[node.id]
        return out

    def _fixed_modules(self) -> dict[str, str]:
        """Each fixed player -> the module that holds it (its id is ``{module}_{seq}``)."""
        fixed = [p for p in self.store.players() if p.kind == "fixed"]
        return {p.id: p.id.rsplit("_", 1)[0] for p in fixed}

    def _reseed(self) -> None:
        """Seeds every EnvRunner and Learner process from the league's seed and the iteration."""
        seed = functools.partial(sampling.reseed, stable_seed(self.cfg.seed, self.iteration, "rng"))
        self.algo.env_runner_group.foreach_env_runner(seed, local_env_runner=True)
        self.algo.learner_group.foreach_learner(seed)

    def _tallies(self) -> tuple[dict[tuple[str, str], tuple[int, int, int]], int]:
        """Every EnvRunner's (trainee, opponent) -> (wins, draws, losses) and env steps."""
        games: dict[tuple[str, str], np.ndarray] = {}
        steps = 0
        for runner_games, runner_steps in self.algo.env_runner_group.foreach_env_runner(
            sampling.tallies, local_env_runner=True
        ):
            steps += runner_steps
            for key, record in runner_games.items():
                games[key] = games.get(key, 0) + np.asarray(record)
        return {k: tuple(int(x) for x in v) for k, v in sorted(games.items())}, steps

    def _install(self) -> mm.MatchTable:
        frozen = self.store.players(active_only=True)
        rng = np.random.default_rng([self.cfg.seed, self.iteration, 1])
        distributions = (
            self.mode.distributions(self.trainees, self._view(frozen))
            if self.spec.multi_party
            else {}
        )
        parties = {p: self.spec.population_of(r) for p, r in self.spec.parties.items()}
        fixed = self._fixed_modules()
        if self.mode.restricted:  # the table module plays the restricted game's equilibrium
            fixed[RESTRICTED] = RESTRICTED
            self._set_weights({RESTRICTED: self._answer.module_state(frozen)})
        table = mm.plan_slots(
            distributions,
            {t.module: t.population for t in self.trainees},
            parties,
            self.slots,
            rng,
            fixed,
        )
        if self.spec.single_agent:
            return table
        by_id = {p.id: p for p in frozen}
        if table.slots:
            self._set_weights({s: self._slot_weights(by_id[p]) for s, p in table.slots.items()})
        agent_parties = {a: self.spec.party_of(a) for a in self.spec.agents}
        self.algo.env_runner_group.foreach_env_runner(
            functools.partial(
                sampling.install_table,
                table,
                agent_parties,
                stable_seed(self.cfg.seed, self.iteration),
            ),
            local_env_runner=True,
        )
        return table

    # -- the loop -------------------------------------------------------------------------------
    def step(self) -> IterationInfo:
        """One iteration: matchmaking, training, snapshots, evaluation, ratings, checkpoint."""
        start = time.time()
        timers: dict[str, float] = {}

        def lap(name: str) -> None:
            timers[name] = round(time.time() - start - sum(timers.values()), 3)

        table, result, counts, steps = self._train()
        self.steps += steps
        self.iteration += 1
        phases.reached("training", self.iteration)
        self.store.add_games(self.iteration, counts)
        lap("train")
        new = self._snapshots(counts, steps) if self.mode.trains else self._exact_responses()
        phases.reached("snapshot", self.iteration)
        self._evaluate()
        self._prune()
        lap("evaluate")
        rated = self._rate()
        phases.reached("rating", self.iteration)
        lap("rate")
        self.wall += time.time() - start
        info = IterationInfo(
            iteration=self.iteration,
            steps=self.steps,
            steps_per_s=steps / max(time.time() - start, 1e-9),
            wall=self.wall,
            meta=rated["meta"],
            nash_conv=rated["nash_conv"],
            exploitability=rated["exploitability"],
            standings=rated["standings"],
            new_players=[p.id for p in new],
            slots=dict(table.slots) if table is not None else {},
            return_mean=_episode_return(result),
            seconds=timers,
        )
        self.store.record_iteration(
            self.iteration,
            steps=self.steps,
            wall=self.wall,
            steps_per_s=info.steps_per_s,
            league_size=len(self.store.players(active_only=True)),
            metrics={
                "slots": info.slots,
                "new_players": info.new_players,
                "seconds": timers,
                "games": {f"{a} vs {b}": v for (a, b), v in counts.items()},
                "return_mean": info.return_mean,
                "nash_conv": info.nash_conv,
            },
        )
        if self.iteration % self.cfg.checkpoint_every == 0:
            self._checkpoint()
        else:
            self.store.set_meta(iteration=self.iteration, steps=self.steps, wall=self.wall)
        self._log(info)
        return info

    def _train(self) -> tuple[mm.MatchTable | None, dict[str, Any], dict, int]:
        """One iteration of training: the installed match table, RLlib's result, the
        (trainee, opponent) -> (wins, draws, losses) tallies and the env steps sampled."""
        if not self.mode.trains:
            return None, {}, {}, 0
        table = self._install()
        self._reseed()  # after loading slot players, whose construction draws from torch
        result = self.algo.train()
        counts, steps = self._tallies()
        return table, result, counts, steps

    def _snapshots(self, counts: dict, steps: int) -> list[Player]:
        """Credits each trainee with its share of the steps and its record, then takes the
        snapshots the mode asks for (restarting a trainee from its initial weights if told)."""
        total_games = sum(sum(v) for v in counts.values()) or 1
        for t in self.trainees:
            mine = {k: v for k, v in counts.items() if k[0] == t.module}
            share = sum(sum(v) for v in mine.values()) / total_games
            t.credit(
                int(steps * (share if counts else 1.0 / len(self.trainees))), list(mine.values())
            )
        rng = np.random.default_rng([self.cfg.seed, self.iteration, 2])
        new = []
        for snap in self.mode.snapshots(self.trainees, self.iteration, rng):
            new.append(self._snapshot(snap.trainee, snap.reason))
            if snap.reset:
                rllib_id = self._module_id(snap.trainee)
                self._set_weights({rllib_id: self._initial[snap.trainee.module]})
        return new

    def _exact_responses(self) -> list[Player]:
        """The exact oracle's step: OpenSpiel's best response to the last meta-strategy over
        the active players, saved as the trainee's next player."""
        from metagame.agents.exact_response import exact_best_response
        from metagame.league.exploitability import action_probabilities

        players = self.store.players(active_only=True)
        meta = self._view(players).meta
        probs = np.array([meta.get(p.id, 0.0) for p in players])
        members = [functools.partial(action_probabilities, self._policy(p)) for p in players]
        response = exact_best_response(self.spec.name, members, probs, env_kwargs=self.spec.kwargs)
        (trainee,) = self.trainees
        value = np.mean(list(response.values.values()))
        reason = f"exact best response (value {value:.4f})"
        return [self._snapshot(trainee, reason, module=response.policy.module)]

    def _evaluate(self) -> None:
        if self._exact is not None:
            self._exact.fill(self.store, self.iteration)
        evaluate(
            self.store,
            self.eval_spec,
            self._policy,
            episodes_per_pair=self.cfg.evaluation.episodes_per_pair,
            replay_fraction=self.cfg.evaluation.replay_fraction,
            seed=self.cfg.seed,
            iteration=self.iteration,
        )

    def _rate(self) -> dict[str, Any]:
        return rate(
            self.store,
            self.spec,
            self._policy,
            iteration=self.iteration,
            solver=self.mode.meta_solver,
            exploitability=self.cfg.evaluation.exploitability and self.exact_exploitability,
            answer=self._answer,
        )

    def _log(self, info: IterationInfo) -> None:
        row = {
            "iteration": info.iteration,
            "steps": info.steps,
            "wall": round(info.wall, 3),
            "steps_per_s": round(info.steps_per_s, 1),
            "league_size": len(info.meta),
            "exploitability": info.exploitability,
            "nash_conv": info.nash_conv,
            "return_mean": info.return_mean,
        }
        self.run_dir.append_progress(row)
        if self._tb is not None:
            for key, value in row.items():
                if value is not None and key != "iteration":
                    self._tb.add_scalar(f"league/{key}", value, info.iteration)
            self._tb.flush()

    def run(self) -> IterationInfo:
        """Trains until a budget is reached or ``league stop`` asks; returns the last info,
        with ``status`` (``finished``, ``out of time`` or ``stopped``) and ``reason``."""
        from tensorboardX import SummaryWriter

        self.setup()
        # a resumed run drops the TensorBoard events of the iterations it re-runs
        self._tb = SummaryWriter(str(self.run_dir.tb), purge_step=self.iteration + 1)
        info: IterationInfo | None = None
        try:
            while (spent := self.cfg.budget.spent(self.iteration, self.steps, self.wall)) is None:
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
            self._stop_trainer()
            self.store.close()
            self.run_dir.release()
        if info is None:
            info = IterationInfo(self.iteration, self.steps, 0.0, self.wall, {}, None, None)
        info.status, info.reason = status, reason
        return info

    def _stop_trainer(self) -> None:
        self.algo.stop()


def league_for(cfg: LeagueConfig, run_dir: str | Path, **kwargs: Any) -> League:
    """The league that trains ``cfg``'s learner: :class:`League` for RLlib's algorithms,
    :class:`~metagame.league.sequence.SequenceLeague` for the sequence-level LM learners."""
    from metagame.league.sequence import SequenceLeague

    cls = next(c for c in (League, SequenceLeague) if cfg.learners.algo in c.algos)
    return cls(cfg, run_dir, **kwargs)


def _check_numbers(defaults: Any, hparams: dict[str, Any]) -> None:
    """Refuses a non-number (text, a mapping, a boolean) for a hyperparameter RLlib defaults
    to a number; lists stay allowed (RLlib's schedules)."""
    for key, value in hparams.items():
        default = getattr(defaults, key, None)
        number = isinstance(default, int | float) and not isinstance(default, bool)
        if number and (isinstance(value, bool) or not isinstance(value, int | float | list)):
            raise ValueError(f"config key learners.hparams.{key}: must be a number, got {value!r}")


def _episode_return(result: dict[str, Any]) -> float | None:
    value = result.get("env_runners", {}).get("episode_return_mean")
    return None if value is None or not np.isfinite(value) else float(value)


__all__ = ["CheckpointError", "IterationInfo", "League", "LeagueBusyError", "league_for"]
