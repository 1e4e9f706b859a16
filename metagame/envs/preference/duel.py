"""The token-level LLM preference duel.

A prompt is drawn from a JSONL prompt set; every player writes a response to it token by token
(all players at once: each step, each still-writing player appends its next token; ``<eos>`` or
``max_tokens`` ends its response, after which its actions are ignored). When all have finished a
judge compares every pair of responses and player i's reward is its win rate against the others,
2/(G-1) * sum_j (P[i, j] - 1/2): with two players, +1/-1 for a win/loss (its expectation when
the judge is soft, a +1/-1 draw with ``stochastic=True``). Rewards sum to zero. With G > 2
players the reward is SPO's group reward (Swamy et al., 2024): several samples per prompt, each
rewarded by its win rate against the others.

Default players: the word vocabulary of the prompt set. Observation: token ids
``[prompt, <sep>, response so far, <pad>...]`` of fixed length ``max_prompt_tokens + 1 +
max_tokens`` (a causal language model's context). Action ``a`` is the token id ``a + 2``
(``<eos>`` is action 0); see ``Vocabulary``.

Language-model players (``model=PATH``, a local ``transformers`` causal LM directory): the game
is still token-level, over the model's tokenizer (``lm.TokenizerVocabulary``). Observation:
``[prompt ids, response ids so far, -1...]`` of length ``max_prompt_tokens + max_tokens``;
action ``a`` is token id ``a`` (``Discrete(len(tokenizer))``); the tokenizer's ``eos`` ends a
response. The env reads the tokenizer and the model's configuration; ``env.policy()`` loads the
weights (once) and is a ``CausalLMPolicy`` that samples with the env's ``temperature``,
``top_p`` and ``top_k``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from metagame.envs.preference.judges import Judge, make_judge
from metagame.envs.preference.lm import (
    CausalLMPolicy,
    Sampling,
    TokenizerVocabulary,
    context_limit,
    load_causal_lm,
)
from metagame.envs.preference.prompts import Vocabulary, load_prompts
from metagame.envs.rendered import Rendered


class LLMDuelEnv(Rendered, ParallelEnv):
    metadata = {"name": "llm_duel_v0", "render_modes": ["rgb_array", "human"], "render_fps": 4}
    frames_without_mode = True

    def __init__(
        self,
        prompts: str | None = None,
        judge: str | Judge = "rules",
        num_players: int = 2,
        max_tokens: int = 6,
        stochastic: bool = False,
        render_mode: str | None = None,
        model: str | None = None,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = 0,
    ):
        """``prompts``: path of a JSONL prompt file or ``bundled:NAME`` (the bundled set
        ``bundled:prompts`` by default); ``model``: a local causal LM directory whose tokenizer
        the players write with, or ``builtin:tiny-gpt2`` (see the module and ``tiny_lm``)."""
        if not isinstance(num_players, int) or num_players < 2:
            raise ValueError(f"num_players must be an integer >= 2, got {num_players!r}")
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive integer, got {max_tokens!r}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None")
        self.prompts = load_prompts(prompts)
        self.sampling = Sampling(temperature, top_p, top_k)
        self.model_path, self._model, self.tokenizer, limit = model, None, None, None
        if model is None:
            self.vocab = Vocabulary.from_prompts(self.prompts)
        else:
            config, self.tokenizer = load_causal_lm(model, config_only=True)
            self.vocab, limit = TokenizerVocabulary(self.tokenizer), context_limit(config)
        self.judge = make_judge(judge)
        self.num_players, self.max_tokens = num_players, max_tokens
        self.stochastic, self.render_mode = bool(stochastic), render_mode
        self._encoded = [self.vocab.encode(p.text) for p in self.prompts]
        self.max_prompt_tokens = max(len(e) for e in self._encoded)
        self.context = self.max_prompt_tokens + len(self.vocab.separator) + max_tokens
        if limit is not None and self.context > limit:
            raise ValueError(
                f"max_tokens: prompts of up to {self.max_prompt_tokens} tokens plus "
                f"{max_tokens} response tokens exceed the model's {limit} positions"
            )
        self.possible_agents = [f"player_{i}" for i in range(num_players)]
        self.agents: list[str] = []
        self._obs_space = spaces.Box(
            self.vocab.pad_id, len(self.vocab) - 1, (self.context,), dtype=np.int64
        )
        self._act_space = spaces.Discrete(self.vocab.num_actions)
        self._rng = np.random.default_rng()
        self.prompt_index = 0
        self.responses: list[list[int]] = [[] for _ in self.possible_agents]
        self.preferences: np.ndarray | None = None

    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_space

    @property
    def prompt(self):
        return self.prompts[self.prompt_index]

    @property
    def model(self):
        """The ``transformers`` model of a ``model=PATH`` duel (loaded on first use), or None."""
        if self._model is None and self.model_path is not None:
            self._model, _ = load_causal_lm(self.model_path)
        return self._model

    def policy(self, seed: int | None = 0, id: str = "causal_lm") -> CausalLMPolicy:
        """The env's language model as a player, sampling with the env's controls."""
        if self.model_path is None:
            raise ValueError("policy() needs a duel made with model=PATH")
        return CausalLMPolicy(self.model, self.tokenizer, self.sampling, seed=seed, id=id)

    def response_text(self, k: int) -> str:
        return self.vocab.decode(self.responses[k])

    def _observe(self) -> dict[str, np.ndarray]:
        prompt = self._encoded[self.prompt_index]
        obs = {}
        for k, agent in enumerate(self.possible_agents):
            o = np.full(self.context, self.vocab.pad_id, dtype=np.int64)
            ids = [*prompt, *self.vocab.separator, *self.responses[k]]
            o[: len(ids)] = ids
            obs[agent] = o
        return obs

    def _finished(self, k: int) -> bool:
        r = self.responses[k]
        return len(r) >= self.max_tokens or (bool(r) and r[-1] == self.vocab.eos_id)

    def reset(self, seed: int | None = None, options: dict | None = None):
        """``options={"prompt": i}`` picks the prompt; otherwise it is drawn at random."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        index = (options or {}).get("prompt")
        if index is None:
            index = int(self._rng.integers(len(self.prompts)))
        if not 0 <= index < len(self.prompts):
            raise ValueError(f"prompt index {index} out of range [0, {len(self.prompts)})")
        self.prompt_index = int(index)
        self.responses = [[] for _ in self.possible_agents]
        self.preferences = None
        self.agents = list(self.possible_agents)
        return self._observe(), {a: {"prompt": self.prompt.text} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise ValueError("step() called on a finished duel; call reset()")
        for k, agent in enumerate(self.possible_agents):
            if self._finished(k):
                continue
            if agent not in actions:
                raise ValueError(f"step() lacks an action for {agent}")
            a = int(actions[agent])
            if not 0 <= a < self._act_space.n:
                raise ValueError(f"{agent}: action {a} out of range [0, {self._act_space.n})")
            self.responses[k].append(self.vocab.token_of(a))
        finished = [self._finished(k) for k in range(self.num_players)]
        done = all(finished)
        rewards = dict.fromkeys(self.possible_agents, 0.0)
        if done:
            rewards = dict(zip(self.possible_agents, map(float, self._judge())))
        obs = self._observe()
        infos = {a: {"finished": finished[k]} for k, a in enumerate(self.possible_agents)}
        if done:
            for k, a in enumerate(self.possible_agents):
                infos[a]["response"] = self.response_text(k)
        return self._end_step(obs, rewards, done, infos)

    def _judge(self) -> np.ndarray:
        texts = [self.response_text(k) for k in range(self.num_players)]
        P = self.judge.matrix(self.prompt, texts)
        if self.stochastic:
            upper = np.triu(self._rng.random(P.shape) < P, k=1).astype(float)
            lower = np.tril(np.ones_like(P), k=-1) - np.triu(upper, k=1).T
            P = upper + lower + 0.5 * np.eye(len(P))
        self.preferences = P
        return 2.0 / (self.num_players - 1) * (P - 0.5).sum(axis=1)

    def _frame(self) -> np.ndarray:
        from metagame.envs.preference.render import text_panel

        rows = []
        for k, agent in enumerate(self.possible_agents):
            score = ""
            if self.preferences is not None:
                score = f"  [win rate {np.delete(self.preferences[k], k).mean():.2f}]"
            rows.append(f"{agent}: {self.response_text(k)}{score}")
        return text_panel(f"prompt: {self.prompt.text}", rows)
