"""The LLM duel's league: a language model's snapshots, judged on held-out prompts.

The LLM preference duel (``llm_duel`` made with ``model=PATH``) is a symmetric two-player
zero-sum game: the payoff of answer a against answer b is 2 (P(a preferred to b) - 1/2). Its
league is the degenerate one the design describes. One trainee, a sequence-level preference
learner (``learners.algo``: SPO, Nash-MD or INPO, :mod:`metagame.agents.lm.sequence_learner`),
trains by self-play in this process (no Ray); every ``mode.snapshot_every`` iterations its model
becomes a player, a ``causal_lm`` policy checkpoint (the model and tokenizer written with
``save_pretrained``, so a player is again a ``model=PATH``).

The evaluation matches are judged on held-out prompts, ``game.eval_kwargs.prompts``, which must
share no prompt with the training set. Each player answers the evaluation items once: item k is
held-out prompt k mod n, and the answers are sampled with a seed of the league and the player,
with the evaluation game's sampling controls. Match ``A|B|k`` is the judge's verdict on A's
answer to item k against B's, with returns (2P - 1, 1 - 2P) for P = Pr(A's answer preferred);
both seatings of every pair are played on the same items, so the win-rate matrix W (W[i, j] the
mean P of i against j) has W[i, j] + W[j, i] = 1. The empirical game is 2W - 1, and its Nash
(the league's meta-strategy, ``league solve``'s answer) is the minimax (von Neumann) winner of
W (Swamy et al., 2024, "A minimaximalist approach to RLHF"; Munos et al., 2023, "Nash learning
from human feedback"). ``league solve --solver minimax-winner`` solves the same W: each match
scores the judge's probability P, not whether P exceeds 1/2
(:func:`metagame.league.population.preference_matrix`), which matters for a soft judge (an LM
judge's probabilities).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metagame.league import phases
from metagame.league.config import SEQUENCE_ALGOS
from metagame.league.evaluation import profiles, stable_seed
from metagame.league.game_spec import GameSpec, game_spec
from metagame.league.modes import SelfPlay, Trainee, mode_for
from metagame.league.population import load_player
from metagame.league.runner import League
from metagame.league.store import Player

LEARNERS = {"SPO": "spo", "Nash-MD": "nash_md", "INPO": "inpo"}  # learners.algo -> algorithm
ITERATION_KEY = "updates_per_iteration"  # learner steps per league iteration
UPDATES_PER_ITERATION = 8
MODEL_KEYS = ("lora",)
CHECKPOINT_FILE = "learner.pt"


def learner_keys() -> tuple[str, ...]:
    """The ``SequenceLearner`` keywords a config's ``learners.hparams`` may set."""
    from metagame.agents.lm.sequence_learner import SequenceLearner

    fixed = {"self", "env_kwargs", "algorithm", "lora", "seed"}
    return tuple(k for k in inspect.signature(SequenceLearner).parameters if k not in fixed)


@dataclass(frozen=True)
class Answers:
    """A player's answers to the evaluation items: texts and lengths in tokens."""

    texts: list[str]
    lengths: list[int]


def verdict(ids: list[str], p: float) -> dict[str, Any]:
    """A judged match's outcome and returns (2p - 1, 1 - 2p), for p = Pr(``ids[0]``'s answer
    is preferred to ``ids[1]``'s)."""
    outcome = ids[0] if p > 0.5 else ids[1] if p < 0.5 else "draw"
    return {"outcome": outcome, "returns": [2 * p - 1, 1 - 2 * p]}


class SequenceLeague(League):
    """The league of :mod:`metagame.league.sequence` (see there); the runner's loop is
    :class:`League`'s, with the trainer's steps replaced."""

    algos = SEQUENCE_ALGOS
    exact_exploitability = False

    # -- checks ----------------------------------------------------------------------------------
    def check(self) -> None:
        """Checks the config without loading the model's weights or writing anything."""
        g = self.cfg.game
        if g.name != "llm_duel" or not g.kwargs.get("model"):
            raise ValueError(
                f"config key game: {self.cfg.learners.algo} trains a causal LM in the LLM duel "
                "(name: llm_duel, kwargs.model: a local model directory or builtin:tiny-gpt2)"
            )
        self.spec: GameSpec = game_spec(g.name, g.kwargs, g.roles)
        if not (self.spec.symmetric and len(self.spec.roles) == 2):
            raise ValueError(
                "config key game.kwargs.num_players: the duel's league is a two-player game "
                f"with one population, got roles {list(self.spec.roles)}"
            )
        self.mode = mode_for(self.cfg, self.spec)
        if not isinstance(self.mode, SelfPlay):
            raise ValueError(
                f"config key mode: {self.cfg.learners.algo} learns by self-play against its own "
                "answers (and the reference's), so the duel's league runs mode selfplay"
            )
        if self.cfg.fixed_players:
            raise ValueError(
                "config key fixed_players: the duel's league has no fixed players (its "
                "reference policy is the learner's own KL anchor)"
            )
        self.trainees: list[Trainee] = self.mode.trainees()
        self.slots: dict[str, list[str]] = {}
        self.fixed: dict[str, object] = {}
        self.eval_spec = self._evaluation_spec()
        self._answer = self._restricted_answer()  # refuses evaluation.answer: restricted_game
        self._learner_settings()

    def _evaluation_spec(self) -> GameSpec:
        """The duel on the held-out prompts, which must share none with the training prompts."""
        from metagame.envs.preference.prompts import load_prompts

        g = self.cfg.game
        held_out = g.eval_kwargs.get("prompts")
        if held_out is None:
            raise ValueError(
                "config key game.eval_kwargs.prompts: the duel's league judges its players on "
                "held-out prompts; name a prompt set the learner does not train on (e.g. "
                "bundled:prompts_heldout)"
            )
        try:
            training = {p.text for p in load_prompts(g.kwargs.get("prompts"))}
            shared = sorted(training & {p.text for p in load_prompts(held_out)})
        except ValueError as err:
            raise ValueError(f"config key game.eval_kwargs.prompts: {err}") from None
        if shared:
            raise ValueError(
                f"config key game.eval_kwargs.prompts: {len(shared)} of them are training "
                f"prompts too (e.g. {shared[0]!r}); held-out prompts must be new to the learner"
            )
        return game_spec(g.name, {**g.kwargs, **g.eval_kwargs}, g.roles)

    def _learner_settings(self) -> tuple[dict[str, Any], int]:
        """(``SequenceLearner`` keywords, learner steps per iteration) from ``learners``."""
        from metagame.agents.lm.sequence_learner import SequenceLearner, check_arguments

        lc = self.cfg.learners
        allowed = (*learner_keys(), ITERATION_KEY)
        for key, value in lc.hparams.items():
            if key not in allowed:
                raise ValueError(
                    f"config key learners.hparams.{key}: unknown for {lc.algo}; allowed: "
                    f"{', '.join(allowed)}"
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"config key learners.hparams.{key}: must be a number")
        for key in lc.model:
            if key not in MODEL_KEYS:
                raise ValueError(
                    f"config key learners.model.{key}: unknown for {lc.algo}; allowed: lora"
                )
        settings = {k: v for k, v in lc.hparams.items() if k != ITERATION_KEY}
        updates = lc.hparams.get(ITERATION_KEY, UPDATES_PER_ITERATION)
        if not isinstance(updates, int) or updates < 1:
            raise ValueError(
                f"config key learners.hparams.{ITERATION_KEY}: must be an integer >= 1"
            )
        defaults = {k: p.default for k, p in inspect.signature(SequenceLearner).parameters.items()}
        merged = {**defaults, **settings}
        try:
            check_arguments(
                LEARNERS[lc.algo],
                *(merged[k] for k in ("group", "prompts_per_step", "mixture", "beta", "eta")),
            )
        except ValueError as err:
            raise ValueError(f"config key learners.hparams: {err}") from None
        if lc.model.get("lora"):
            settings["lora"] = dict(lc.model["lora"])
        return settings, updates

    # -- the trainer -------------------------------------------------------------------------------
    def _build(self, algo_cfg: None) -> None:
        from metagame.agents.lm.sequence_learner import SequenceLearner
        from metagame.envs import make

        settings, self._updates = self._learner_settings()
        algorithm = LEARNERS[self.cfg.learners.algo]
        self.learner = SequenceLearner(self.spec.kwargs, algorithm, seed=self.cfg.seed, **settings)
        self._eval_env = make(self.eval_spec.name, **self.eval_spec.kwargs).unwrapped
        self._answers: dict[str, Answers] = {}

    def _reseed(self) -> None:
        """Seeds torch and the learner's prompt and sampling draws from the seed and iteration."""
        import torch

        seed = stable_seed(self.cfg.seed, self.iteration, "rng")
        torch.manual_seed(seed)
        self.learner.rng = np.random.default_rng(seed)

    def _train(self) -> tuple[None, dict[str, Any], dict, int]:
        """``updates_per_iteration`` learner steps; the steps are the tokens generated."""
        self._reseed()
        tokens = sum(self.learner.step()["tokens"] for _ in range(self._updates))
        return None, {}, {}, tokens

    def _snapshot_policy(self, t: Trainee) -> Any:
        from metagame.envs.preference.lm import CausalLMPolicy

        return CausalLMPolicy(
            self.learner.trained_model(), self.learner.env.tokenizer, self._eval_env.sampling
        )

    def _kl_coefficients(self) -> dict[str, float]:
        return {}

    def _save_trainer(self, path: Path) -> None:
        """The learner's weights (adapters included) and optimizer state, written atomically."""
        import torch

        path.mkdir(parents=True, exist_ok=True)
        state = {
            "model": self.learner.model.state_dict(),
            "optimizer": self.learner.optimizer.state_dict(),
        }
        tmp = path / (CHECKPOINT_FILE + ".tmp")
        torch.save(state, tmp)
        tmp.replace(path / CHECKPOINT_FILE)

    def _load_trainer(self, path: Path) -> None:
        import torch

        state = torch.load(path / CHECKPOINT_FILE, weights_only=True)
        self.learner.model.load_state_dict(state["model"])
        self.learner.optimizer.load_state_dict(state["optimizer"])

    def _stop_trainer(self) -> None:
        """Nothing runs outside this process."""

    # -- evaluation --------------------------------------------------------------------------------
    def _items(self) -> int:
        """Evaluation items per seating of a pair (``episodes_per_pair`` over both seatings)."""
        return max(1, self.cfg.evaluation.episodes_per_pair // 2)

    def _player_answers(self, player: Player) -> Answers:
        """The player's answers to the evaluation items (generated once, in one batch)."""
        if player.id not in self._answers:
            env = self._eval_env
            policy = load_player(self.run_dir.path, player)
            policy.reset(stable_seed(self.cfg.seed, player.id, "answers"))
            prompts = [env.prompts[k % len(env.prompts)].text for k in range(self._items())]
            rows = policy.generate(prompts, env.max_tokens)
            self._answers[player.id] = Answers(
                [env.vocab.decode(r) for r in rows], [len(r) for r in rows]
            )
        return self._answers[player.id]

    def _evaluate(self) -> None:
        """Judges every missing match of the active players on the held-out items, each
        seating of each pair on the same items; each match is committed as it is judged."""
        env, done = self._eval_env, self.store.match_keys()
        for block in profiles(self.eval_spec, self.store.players(active_only=True)):
            ids = [p.id for p in block]
            keys = [f"{'|'.join(ids)}|{k}" for k in range(self._items())]
            if all(k in done for k in keys):
                continue
            a, b = (self._player_answers(p) for p in block)
            for k, key in enumerate(keys):
                if key in done:
                    continue
                prompt = env.prompts[k % len(env.prompts)]
                p = float(env.judge.compare(prompt, a.texts[k], b.texts[k]))
                self.store.record_match(
                    key,
                    iteration=self.iteration,
                    players=ids,
                    seats=list(self.eval_spec.roles),
                    **verdict(ids, p),
                    length=max(a.lengths[k], b.lengths[k]),
                    seed=stable_seed(self.cfg.seed, ids[0], "answers"),
                )
            phases.reached("evaluation", self.iteration)
