"""Token-level SPO on RLlib: pre-train, self-play with group rewards, evaluate by win rate.

``train_duel`` pre-trains a ``TokenTransformer`` on the prompt set (``sft_steps``), then runs
RLlib PPO (new API stack) in self-play: every player of ``llm_duel`` (``num_players`` responses
per prompt) maps to one shared ``DuelRLModule``, the env rewards each response by its win rate
against the others (SPO's group reward), and the magnet learner
(:class:`metagame.agents.rllib.magnet.MagnetPPOLearner`) adds beta KL(pi || pi_ref) toward the
pre-trained policy, its fixed magnet (Nash-MD's regulariser, Munos et al., 2023). ``win_rate``
plays two policies against each other in the duel, judged by the env's judge.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metagame.agents.lm.sft import pretrain
from metagame.agents.lm.token_transformer import TokenTransformer, TransformerConfig
from metagame.envs.preference.duel import LLMDuelEnv
from metagame.progress import progress

MODULE_ID = "shared"
ENV_NAME = "metagame_llm_duel"


def transformer_config(env: LLMDuelEnv, **model: Any) -> TransformerConfig:
    return TransformerConfig(len(env.vocab), env.vocab.num_actions, env.context, **model)


def duel_config(
    env_kwargs: dict[str, Any] | None = None,
    *,
    weights: str | Path | None = None,
    model: dict[str, Any] | None = None,
    ref_kl_coeff: float = 0.02,
    seed: int = 0,
    **training: Any,
):
    """An MMDConfig (PPO with a fixed magnet, ``ref_kl_coeff`` its KL weight) for self-play
    on ``llm_duel`` with one shared module: ``DuelRLModule``, or ``LMDuelRLModule`` when
    ``env_kwargs["model"]`` names a local causal LM.

    ``model``: the small transformer's sizes, or for a causal LM extra module settings such as
    ``{"lora": {"r": 8}}``. ``training`` overrides PPO's training settings (lr,
    train_batch_size_per_learner, ...).
    """
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.tune.registry import register_env

    from metagame.agents.lm.env import DuelMultiAgentEnv
    from metagame.agents.lm.rlmodule import DuelRLModule
    from metagame.agents.rllib.magnet import MMDConfig

    env_kwargs = dict(env_kwargs or {})
    if env_kwargs.get("model") is not None:  # a transformers causal LM: its own module
        from metagame.agents.lm.lm_module import LMDuelRLModule

        module_class = LMDuelRLModule
        model_config = {"model": str(env_kwargs["model"]), **(model or {})}
    else:
        module_class = DuelRLModule
        probe = LLMDuelEnv(**env_kwargs)
        model_config = transformer_config(probe, **(model or {})).to_dict()
        if weights is not None:
            model_config["weights"] = str(weights)
    register_env(ENV_NAME, lambda cfg: DuelMultiAgentEnv(cfg))
    settings = dict(
        lr=1e-3,
        gamma=1.0,
        lambda_=1.0,
        train_batch_size_per_learner=256,
        minibatch_size=128,
        num_epochs=4,
        entropy_coeff=0.0,
        vf_loss_coeff=0.5,
        use_kl_loss=False,
    )
    settings.update(training)
    return (
        MMDConfig()
        .environment(ENV_NAME, env_config=env_kwargs)
        .multi_agent(policies={MODULE_ID}, policy_mapping_fn=lambda agent, *a, **k: MODULE_ID)
        .rl_module(
            rl_module_spec=MultiRLModuleSpec(
                rl_module_specs={
                    MODULE_ID: RLModuleSpec(module_class=module_class, model_config=model_config)
                }
            )
        )
        .training(
            magnet_kl_coeff=ref_kl_coeff,
            magnet_update_every=0,  # the module's own reference: a fixed magnet
            **settings,
        )
        .env_runners(num_env_runners=0, num_envs_per_env_runner=1)
        .learners(num_learners=0)
        .debugging(seed=seed, log_level="ERROR")
        .reporting(metrics_num_episodes_for_smoothing=20)
    )


@dataclass
class DuelRun:
    """What ``train_duel`` returns: the policies before and after RL and per-iteration stats."""

    initial: TokenTransformer
    trained: TokenTransformer
    sft_losses: list[float] = field(default_factory=list)
    reference_kl: list[float] = field(default_factory=list)
    entropy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def train_duel(
    env_kwargs: dict[str, Any] | None = None,
    iterations: int = 10,
    *,
    sft_steps: int = 15,
    ref_kl_coeff: float = 0.02,
    model: dict[str, Any] | None = None,
    seed: int = 0,
    **training: Any,
) -> DuelRun:
    """SFT for ``sft_steps``, then ``iterations`` RLlib PPO iterations of token-level SPO."""
    import ray

    from metagame.agents.lm.rlmodule import save_weights
    from metagame.agents.rllib import init_ray
    from metagame.agents.rllib.magnet import MAGNET_KL_KEY

    env = LLMDuelEnv(**dict(env_kwargs or {}))
    torch.manual_seed(seed)
    initial = TokenTransformer(transformer_config(env, **(model or {})))
    losses = pretrain(initial, env.prompts, env.vocab, env.max_tokens, steps=sft_steps, seed=seed)
    initial.eval()
    run = DuelRun(initial=initial, trained=initial, sft_losses=losses)
    with tempfile.TemporaryDirectory() as tmp:
        weights = save_weights(initial, Path(tmp) / "sft.pt")
        config = duel_config(
            env_kwargs,
            weights=weights,
            model=model,
            ref_kl_coeff=ref_kl_coeff,
            seed=seed,
            **training,
        )
        started_ray = init_ray(num_cpus=1)
        algo = config.build_algo()
        try:
            with progress("SPO duel iterations", total=iterations) as advance:
                for _ in range(iterations):
                    start = time.perf_counter()
                    learner = algo.train().get("learners", {}).get(MODULE_ID, {})
                    run.reference_kl.append(float(learner.get(MAGNET_KL_KEY, np.nan)))
                    run.entropy.append(float(learner.get("entropy", np.nan)))
                    run.seconds.append(time.perf_counter() - start)
                    advance()
            trained = TokenTransformer(initial.config)
            trained.load_state_dict(algo.get_module(MODULE_ID).model.state_dict())
            trained.eval()
            run.trained = trained
        finally:
            algo.stop()
            if started_ray:
                ray.shutdown()
    return run


def win_rate(
    policy: TokenTransformer,
    opponent: TokenTransformer,
    env_kwargs: dict[str, Any] | None = None,
    episodes: int = 200,
    seed: int = 0,
) -> float:
    """``policy``'s mean score against ``opponent`` in two-player duels (ties count 1/2).

    The duels run side by side (one batched forward pass per policy and step); ``policy``
    sits as player_0 in even episodes and player_1 in odd ones, cancelling any seat effect.
    """
    kwargs = {**dict(env_kwargs or {}), "num_players": 2}
    envs = [LLMDuelEnv(**kwargs) for _ in range(episodes)]
    observations = [env.reset(seed=seed + e)[0] for e, env in enumerate(envs)]
    seat = ["player_0" if e % 2 == 0 else "player_1" for e in range(episodes)]
    other = {"player_0": "player_1", "player_1": "player_0"}
    generator = torch.Generator().manual_seed(seed)
    rewards = [None] * episodes
    while any(env.agents for env in envs):
        live = [e for e, env in enumerate(envs) if env.agents]
        actions = {e: {} for e in live}
        for model, agent_of in ((policy, seat), (opponent, [other[s] for s in seat])):
            rows = [(e, agent_of[e]) for e in live if agent_of[e] in envs[e].agents]
            if rows:
                chosen = model.act(np.stack([observations[e][a] for e, a in rows]), generator)
                for (e, a), action in zip(rows, chosen):
                    actions[e][a] = int(action)
        for e in live:
            observations[e], step_rewards, *_ = envs[e].step(actions[e])
            rewards[e] = step_rewards
    return float(np.mean([(rewards[e][seat[e]] + 1.0) / 2.0 for e in range(episodes)]))
