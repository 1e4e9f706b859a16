"""Self-play preference optimisation of a ``transformers`` causal LM on RLlib, and its win rate.

``train_lm_duel`` runs RLlib PPO (new API stack) on ``llm_duel`` made with ``model=PATH``: every
player maps to one shared ``LMDuelRLModule``, each response is rewarded by its win rate against
the other responses to the same prompt under the env's judge (SPO's group reward, Swamy et al.,
2024), and the magnet learner adds ``beta KL(pi || pi_ref)`` toward the initial model at every
generated token (the Nash-MD regulariser, Munos et al., 2023). ``ref_kl_coeff=0`` is plain SPO.
The trained model is written with ``save_pretrained`` (with the tokenizer), so it is again a
``model=PATH`` for the duel, the judges or the league.

``lm_win_rate`` samples one answer from each of two models for ``episodes`` prompts (cached
generation, the env's sampling controls) and averages the judge's Pr(policy's answer preferred),
with Wilson's 95% score interval (ties and soft preferences count as fractional wins).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metagame.agents.evaluation import Interval, wilson_interval
from metagame.envs.preference.duel import LLMDuelEnv
from metagame.envs.preference.lm import CausalLMPolicy
from metagame.progress import progress

MODULE_ID = "shared"


@dataclass
class LMDuelRun:
    """What ``train_lm_duel`` returns."""

    initial: str
    trained: str
    reference_kl: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)  # generated tokens (agent steps)


def train_lm_duel(
    env_kwargs: dict[str, Any],
    output: str | Path,
    iterations: int = 4,
    *,
    seconds: float | None = None,
    num_envs: int = 1,
    lora: dict[str, Any] | None = None,
    ref_kl_coeff: float = 0.02,
    seed: int = 0,
    **training: Any,
) -> LMDuelRun:
    """PPO iterations of token-level SPO (+ Nash-MD KL) from ``env_kwargs["model"]``: at most
    ``iterations``, and none started after ``seconds`` of training when given. The trained model
    and tokenizer are saved to ``output``. ``num_envs`` duels run side by side, so that each
    forward pass of the model reads ``num_envs * num_players`` observations. ``lora`` (e.g.
    ``{"r": 8}``) trains LoRA adapters only (see ``LMDuelRLModule``); they are merged on saving."""
    import ray

    from metagame.agents.lm.train import duel_config
    from metagame.agents.rllib import init_ray
    from metagame.agents.rllib.magnet import MAGNET_KL_KEY

    if env_kwargs.get("model") is None:
        raise ValueError("env_kwargs must name a local causal LM directory under 'model'")
    env = LLMDuelEnv(**env_kwargs)  # validates the arguments before Ray starts
    torch.manual_seed(seed)
    model = {"lora": dict(lora)} if lora else None
    config = duel_config(env_kwargs, model=model, ref_kl_coeff=ref_kl_coeff, seed=seed, **training)
    config = config.env_runners(num_envs_per_env_runner=num_envs)
    run = LMDuelRun(initial=str(env_kwargs["model"]), trained=str(output))
    started_ray = init_ray(num_cpus=1)
    algo = config.build_algo()
    try:
        with progress("LM duel iterations", total=iterations) as advance:
            for _ in range(iterations):
                if seconds is not None and sum(run.seconds) >= seconds:
                    break
                start = time.perf_counter()
                result = algo.train()
                learner = result.get("learners", {}).get(MODULE_ID, {})
                run.reference_kl.append(float(learner.get(MAGNET_KL_KEY, np.nan)))
                sampled = result.get("env_runners", {}).get("num_agent_steps_sampled", {})
                run.tokens.append(int(sum(sampled.values())))
                run.seconds.append(time.perf_counter() - start)
                advance()
        algo.get_module(MODULE_ID).merged().save_pretrained(output)
        env.tokenizer.save_pretrained(output)
    finally:
        algo.stop()
        if started_ray:
            ray.shutdown()
    return run


def lm_win_rate(
    policy: CausalLMPolicy,
    opponent: CausalLMPolicy,
    env: LLMDuelEnv,
    episodes: int = 64,
    batch_size: int = 32,
    confidence: float = 0.95,
) -> Interval:
    """Mean Pr(policy's answer preferred) over ``episodes`` prompts taken in turn from ``env``'s
    prompt set and judged by ``env.judge``, with its Wilson interval (``estimate``, ``low``,
    ``high``)."""
    prompts = [env.prompts[e % len(env.prompts)] for e in range(episodes)]
    scores = []
    for start in range(0, episodes, batch_size):
        chunk = prompts[start : start + batch_size]
        texts = [p.text for p in chunk]
        mine = policy.generate(texts, env.max_tokens)
        theirs = opponent.generate(texts, env.max_tokens)
        for p, a, b in zip(chunk, mine, theirs):
            scores.append(env.judge.compare(p, env.vocab.decode(a), env.vocab.decode(b)))
    return wilson_interval(float(np.sum(scores)), len(scores), confidence)
