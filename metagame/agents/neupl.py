"""(Simplex-)NeuPL: a whole population in one conditional network, trained by PPO over batched
OpenSpiel games.

NeuPL (Liu et al., ICLR 2022, "NeuPL: Neural Population Learning") represents a population of
``N`` policies by one network ``pi(a | o, sigma)``: policy ``i`` is the network conditioned on
``sigma_i``, a mixture over the slots before it, and is trained as a best response to that
mixture. ``sigma_i`` is the Nash equilibrium of the empirical payoff matrix among slots
``0 .. i-1`` (NeuPL-PSRO, the paper's Algorithm with a Nash meta-solver), re-solved as the
network changes; every slot trains at once, so skills learned by one transfer to the others.
Simplex-NeuPL (Liu et al., ICML 2022, "Simplex Neural Population Learning") also trains the
network on mixtures drawn from the simplex (a Dirichlet), so it answers any mixture, not only
the ``sigma_i``. The league's answer is the meta-Nash mixture over all slots: a mixture of
conditioned policies.

Here, for two-player zero-sum sequential OpenSpiel games with tied seats (Kuhn, Leduc poker):

- slot 0 is the seed, uniform random play (the initial policy of PSRO); ``sigma_0 = e_0``;
  slots ``1 .. N-1`` are :class:`metagame.agents.rllib.conditional.MixtureConditionedRLModule`
  conditioned on ``sigma_i`` (rows of the lower-triangular :attr:`NeuPL.mixtures`);
- an episode draws the learner's seat, its conditioning (``sigma_i`` for a uniform slot
  ``i >= 1``, or with probability ``simplex`` a Dirichlet draw over all slots) and an opponent
  slot ``j ~ sigma``, played by the same network conditioned on ``sigma_j``; only the learner's
  moves are trained (the opponent's are not a best response to anything it faced);
- the payoff matrix among slots is exact, not sampled: each slot's table over the game's
  information states is one batched forward pass, and all ``N^2`` entries are one matrix
  product (:class:`metagame.agents.sequence_form.SequenceForm`); it is re-solved
  (``metagame.solvers.solve_zero_sum``) after every update;
- exploitability is exact: OpenSpiel's best response to the meta-Nash mixture's behavioural
  policy (Kuhn's theorem).

Why PPO is written here rather than run through RLlib's Algorithm: each episode needs its own
conditioning mixture (and its opponent's), chosen when it starts. RLlib's EnvRunners give a
module nothing but the env's observations; the fast one for OpenSpiel games
(:class:`metagame.agents.rllib.vector_env_runner.VectorEnvRunner`, which steps
:class:`metagame.agents.rllib.spiel_games.SpielGames` and calls each module on the bare
observation batch) has no per-episode input, and the generic ``MultiAgentEnvRunner`` could carry
the mixture only inside the env's observations, through an env that draws pairings itself, at
the 100-450 env steps/s the league measured for it on this machine (issue 17). Measured in one
run of ``benchmarks/neupl.py`` on Kuhn poker (2 cores, load 14-24): this loop sampled and learned
at 5,900 env steps/s over the whole run, the league's PSRO (VectorEnvRunner, RLlib's PPO
Learner) at 450. So the loop steps ``SpielGames`` itself, one forward pass per round over every
live game with per-row mixtures, and updates the RLModule with PPO's clipped loss (Schulman et
al. 2017) on Monte Carlo returns (the games are a few moves long; gamma = 1). One thread for
torch (``torch_threads``): with two, each small matrix product waited on the other thread on the
loaded machine, and an update took 10x longer (15 s against 1.2 s, measured on Kuhn).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.columns import Columns

from metagame.agents.rllib.conditional import (
    MIXTURE_KEY,
    NUM_SLOTS_KEY,
    MixtureConditionedRLModule,
)
from metagame.agents.rllib.encoding import ObservationCodec, space_to_json
from metagame.agents.rllib.modules import RAW_SPACE_KEY, log_mask
from metagame.agents.rllib.spiel_games import SpielGames
from metagame.agents.sequence_form import SequenceForm
from metagame.envs.registration import make
from metagame.solvers import solve_zero_sum


@dataclass(frozen=True)
class NeuPLConfig:
    """Hyperparameters: the population, the conditioning, PPO."""

    num_slots: int = 8
    simplex: float = 0.5  # fraction of episodes conditioned on a Dirichlet draw (0: NeuPL)
    dirichlet: float = 1.0  # the Dirichlet's concentration
    num_games: int = 256  # games played at once
    batch_steps: int = 4096  # learner moves per update
    epochs: int = 4
    minibatch: int = 512
    lr: float = 3e-3
    clip: float = 0.2
    entropy: float = 0.0
    vf_coeff: float = 0.5
    hidden: tuple[int, ...] = field(default=(64, 64))
    refresh_every: int = 1  # updates between re-solving the slots' mixtures
    torch_threads: int = 1  # small networks: one thread is fastest, and fair on shared CPUs
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "num_slots": self.num_slots >= 2,
            "simplex": 0.0 <= self.simplex <= 1.0,
            "dirichlet": self.dirichlet > 0,
            "num_games": self.num_games >= 1,
            "batch_steps": self.batch_steps >= 1,
            "epochs": self.epochs >= 1,
            "minibatch": self.minibatch >= 1,
            "lr": self.lr > 0,
            "clip": self.clip > 0,
            "hidden": len(self.hidden) >= 1 and all(h >= 1 for h in self.hidden),
            "refresh_every": self.refresh_every >= 1,
            "torch_threads": self.torch_threads >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{n}={getattr(self, n)!r}" for n in bad)
            raise ValueError(f"NeuPLConfig: invalid {values}")


def initial_mixtures(num_slots: int) -> np.ndarray:
    """``(N, N)``: slot 0 on itself, slot ``i >= 1`` uniform over slots ``0 .. i-1``."""
    sigma = np.tril(np.ones((num_slots, num_slots)), k=-1)
    sigma[0, 0] = 1.0
    return sigma / sigma.sum(axis=1, keepdims=True)


@dataclass
class Evaluation:
    """The meta-game at one point of training and the league's answer."""

    payoffs: np.ndarray  # (N, N) symmetric-game payoffs among slots, exact
    mixtures: np.ndarray  # (N, N) the slots' conditioning
    answer: np.ndarray  # (N,) the meta-Nash mixture over slots
    exploitability: float | None  # of the answer (None when not computed)


class NeuPL:
    """Trains a :class:`MixtureConditionedRLModule` population on one OpenSpiel game (see the
    module docstring). ``train(seconds)`` or repeated ``update()``; ``evaluate()`` for the
    answer and its exact exploitability."""

    def __init__(
        self,
        game: str = "openspiel:kuhn_poker",
        game_kwargs: dict[str, Any] | None = None,
        config: NeuPLConfig | None = None,
    ):
        self.config = config = config or NeuPLConfig()
        if not game.startswith("openspiel:"):
            raise ValueError(
                f"game: NeuPL trains on OpenSpiel games ('openspiel:<name>'), got {game!r}"
            )
        env = make(game, **(game_kwargs or {}))
        bridge = env.unwrapped
        self.tree = SequenceForm(bridge)  # refuses games that are not two-player zero-sum
        self.raw_space = raw_space = bridge.observation_space(bridge.possible_agents[0])
        codec = ObservationCodec(raw_space)
        if codec.grid or not codec.masked:
            raise ValueError(f"game: {game} needs flat, masked observations for NeuPL")
        self.games = SpielGames.from_env(bridge, config.num_games)
        self.num_actions = self.games.num_actions
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.module = MixtureConditionedRLModule(
            observation_space=codec.space,
            action_space=gym.spaces.Discrete(self.num_actions),
            model_config={
                NUM_SLOTS_KEY: config.num_slots,
                "fcnet_hiddens": list(config.hidden),
                RAW_SPACE_KEY: space_to_json(raw_space),
            },
        )
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=config.lr)
        self.mixtures = initial_mixtures(config.num_slots)
        self.payoffs = np.zeros((config.num_slots, config.num_slots))
        self.env_steps = 0
        self.updates = 0
        self.train_seconds = 0.0

    # -- the population as tables ------------------------------------------------------------
    def tables(self, mixtures: np.ndarray | None = None) -> np.ndarray:
        """``(K, I, A)``: the action probabilities of the network conditioned on each row of
        ``mixtures`` (default: the slots, slot 0 being uniform play) at every information
        state."""
        slots = mixtures is None
        mixtures = self.mixtures if slots else np.asarray(mixtures, dtype=np.float64)
        obs = torch.from_numpy(self.tree.observations)
        k, i = len(mixtures), len(obs)
        batch = {
            Columns.OBS: obs.repeat(k, 1),
            MIXTURE_KEY: torch.from_numpy(mixtures).float().repeat_interleave(i, dim=0),
        }
        with torch.no_grad():
            logits = self.module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]
        probs = torch.softmax(logits.double(), dim=-1).numpy().reshape(k, i, -1)
        if slots:
            probs[0] = self.tree.uniform()
        return probs

    def refresh(self) -> None:
        """Re-solves every ``sigma_i`` on the exact payoff matrix among slots ``0 .. i-1``.

        A slot's policy depends on its own mixture, so this goes in slot order: ``sigma_i``
        is solved on the tables of slots before ``i``, already conditioned on their new
        mixtures, and then slot ``i``'s table is recomputed on ``sigma_i``."""
        tables = self.tables()
        for i in range(1, self.config.num_slots):
            payoffs = self.tree.symmetric_payoffs(tables[:i])
            row = np.clip(solve_zero_sum(payoffs, tol=1e-9).row, 0.0, None)
            self.mixtures[i] = 0.0
            self.mixtures[i, :i] = row / row.sum()
            tables[i] = self.tables(self.mixtures[i : i + 1])[0]
        self.payoffs = self.tree.symmetric_payoffs(tables)

    def evaluate(self, exploitability: bool = True) -> Evaluation:
        """The meta-Nash mixture over all slots of the current payoff matrix, and (exactly) its
        exploitability."""
        tables = self.tables()
        payoffs = self.tree.symmetric_payoffs(tables)
        answer = np.clip(solve_zero_sum(payoffs, tol=1e-9).row, 0.0, None)
        answer /= answer.sum()
        value = None
        if exploitability:
            value = self.tree.exploitability(self.tree.mixture(tables, answer))
        return Evaluation(payoffs, self.mixtures.copy(), answer, value)

    # -- sampling ----------------------------------------------------------------------------
    def _episode_setup(self, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For ``count`` new games: the learner's seat, its mixture, the opponent's slot and
        the opponent's mixture."""
        cfg, n = self.config, self.config.num_slots
        seats = self.rng.integers(0, 2, count)
        slots = self.rng.integers(1, n, count)
        learner = self.mixtures[slots]
        simplex = self.rng.random(count) < cfg.simplex
        if simplex.any():
            learner[simplex] = self.rng.dirichlet(np.full(n, cfg.dirichlet), int(simplex.sum()))
        cdf = np.cumsum(learner, axis=1)
        opponents = np.minimum((cdf < self.rng.random(count)[:, None] * cdf[:, -1:]).sum(1), n - 1)
        return seats, learner, opponents, self.mixtures[opponents]

    def sample(self) -> dict[str, np.ndarray]:
        """At least ``batch_steps`` learner moves from complete games: observations, mixtures,
        actions, their log-probabilities and values, and Monte Carlo returns."""
        cfg, games = self.config, self.games
        n = cfg.num_games
        seat = np.zeros(n, dtype=np.int64)
        mixture = np.zeros((n, 2, cfg.num_slots), dtype=np.float32)  # [game, learner?]
        random_opponent = np.zeros(n, dtype=bool)
        moves: list[list[int]] = [[] for _ in range(n)]  # each game's learner moves
        obs, mixes, actions, logps, values, rewards = [], [], [], [], [], []
        returns: list[float] = []
        done_steps = 0
        live = list(range(n))

        def start(slots: list[int]) -> None:
            seats, learner, opponents, opponent = self._episode_setup(len(slots))
            for k, i in enumerate(slots):
                games.start(i, self.rng)
                seat[i], moves[i] = seats[k], []
                mixture[i, 1], mixture[i, 0] = learner[k], opponent[k]
                random_opponent[i] = opponents[k] == 0

        start(live)
        while live:
            players = [games.current_player(i) for i in live]
            rows = np.stack(games.observe(live, players))
            learner = np.array([p == seat[i] for i, p in zip(live, players, strict=True)])
            cond = mixture[live, learner.astype(np.int64)]
            batch = {Columns.OBS: torch.from_numpy(rows), MIXTURE_KEY: torch.from_numpy(cond)}
            with torch.no_grad():
                out = self.module._forward_train(batch)
            logits = out[Columns.ACTION_DIST_INPUTS]
            uniform = torch.from_numpy(~learner & random_opponent[live])
            if uniform.any():
                mask = torch.from_numpy(rows[:, -self.num_actions :])
                logits = torch.where(uniform[:, None], log_mask(mask), logits)
            logp_all = torch.log_softmax(logits.double(), dim=-1).numpy()
            cdf = np.cumsum(np.exp(logp_all), axis=1)
            draws = self.rng.random(len(live))[:, None] * cdf[:, -1:]
            acts = np.minimum((cdf < draws).sum(axis=1), self.num_actions - 1)
            value = out[Columns.VF_PREDS].numpy()
            finished = []
            for k, i in enumerate(live):
                if learner[k]:
                    moves[i].append(len(actions))
                    obs.append(rows[k])
                    mixes.append(cond[k])
                    actions.append(acts[k])
                    logps.append(logp_all[k, acts[k]])
                    values.append(value[k])
                    rewards.append(0.0)
                reward = games.act(i, int(acts[k]), self.rng)[seat[i]]
                if moves[i]:
                    rewards[moves[i][-1]] += reward
                if games.is_terminal(i):
                    finished.append(i)
            self.env_steps += len(live)
            returns.extend([0.0] * (len(rewards) - len(returns)))
            for i in finished:
                done_steps += len(moves[i])
                _returns_to_go(moves[i], rewards, returns)
            if done_steps < cfg.batch_steps:
                start(finished)
            else:
                live = [i for i in live if i not in set(finished)]
        return {
            "obs": np.asarray(obs, dtype=np.float32),
            "mixture": np.asarray(mixes, dtype=np.float32),
            "action": np.asarray(actions, dtype=np.int64),
            "logp": np.asarray(logps, dtype=np.float64),
            "value": np.asarray(values, dtype=np.float64),
            "return": np.asarray(returns, dtype=np.float64),
        }

    # -- learning ----------------------------------------------------------------------------
    def learn(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        """PPO's clipped surrogate, value regression and entropy bonus over ``epochs`` passes of
        shuffled minibatches; the last minibatch's losses."""
        cfg = self.config
        data = {k: torch.from_numpy(v) for k, v in batch.items()}
        advantage = data["return"] - data["value"]
        size = len(advantage)
        stats: dict[str, float] = {}
        for _ in range(cfg.epochs):
            perm = torch.from_numpy(self.rng.permutation(size))
            for chunk in perm.split(cfg.minibatch):
                out = self.module._forward_train(
                    {Columns.OBS: data["obs"][chunk], MIXTURE_KEY: data["mixture"][chunk]}
                )
                logp_all = torch.log_softmax(out[Columns.ACTION_DIST_INPUTS], dim=-1)
                logp = logp_all.gather(1, data["action"][chunk, None]).squeeze(1)
                adv = advantage[chunk]
                if len(adv) > 1:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                ratio = torch.exp(logp.double() - data["logp"][chunk])
                surrogate = torch.minimum(
                    ratio * adv, torch.clamp(ratio, 1 - cfg.clip, 1 + cfg.clip) * adv
                ).mean()
                vf_loss = ((out[Columns.VF_PREDS].double() - data["return"][chunk]) ** 2).mean()
                probs = logp_all.exp()
                entropy = -(probs * torch.where(probs > 0, logp_all, 0.0)).sum(-1).mean()
                loss = -surrogate + cfg.vf_coeff * vf_loss - cfg.entropy * entropy
                self.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.module.parameters(), 1.0)
                self.optimizer.step()
                stats = {
                    "policy_loss": -surrogate.item(),
                    "vf_loss": vf_loss.item(),
                    "entropy": entropy.item(),
                }
        return stats

    def update(self) -> dict[str, float]:
        """One iteration: sample, learn, and every ``refresh_every`` iterations re-solve the
        slots' mixtures."""
        start = time.perf_counter()
        with torch_threads(self.config.torch_threads):
            stats = self.learn(self.sample())
            self.updates += 1
            if self.updates % self.config.refresh_every == 0:
                self.refresh()
        self.train_seconds += time.perf_counter() - start
        return stats

    def train(self, seconds: float, callback: Any = None) -> None:
        """Updates until ``seconds`` of training have passed; ``callback(self)`` after each."""
        if not seconds > 0:
            raise ValueError(f"seconds must be > 0, got {seconds!r}")
        end = self.train_seconds + seconds
        while self.train_seconds < end:
            self.update()
            if callback is not None:
                callback(self)

    def slot_module(self, slot: int) -> MixtureConditionedRLModule:
        """A copy of the network conditioned on slot ``slot``'s mixture (``slot >= 1``): that
        slot's policy as a stand-alone RLModule (``save_policy`` takes it)."""
        if not 1 <= slot < self.config.num_slots:
            raise ValueError(f"slot: expected 1 .. {self.config.num_slots - 1}, got {slot}")
        module = MixtureConditionedRLModule(
            observation_space=self.module.observation_space,
            action_space=self.module.action_space,
            model_config=dict(self.module.model_config),
        )
        module.load_state_dict(self.module.state_dict())
        module.set_mixture(self.mixtures[slot])
        return module


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``count`` for a block, then restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _returns_to_go(moves: list[int], rewards: list[float], returns: list[float]) -> None:
    """Writes the undiscounted return from each of one game's learner moves onwards."""
    total = 0.0
    for m in reversed(moves):
        total += rewards[m]
        returns[m] = total
