"""``rllib_config``: a ready RLlib (new API stack) AlgorithmConfig for any metagame game.

The game is registered with Tune (:func:`metagame.agents.rllib.env.register_env`); each agent
gets a module spec with masking and encoders (:func:`metagame.agents.rllib.modules.agent_spec`);
agents map to modules by ``sharing``:

- ``"all"``: one module for every agent (parameter sharing; needs identical spaces);
- ``"per_role"``: one module per role, the agent name without its ``_<index>`` suffix
  (``pursuer_0``, ``pursuer_1`` -> ``pursuer``); agents arriving mid-episode map by role too;
- ``"per_agent"``: one module per agent in ``possible_agents``.

One-player games train single-agent (module ``default_policy``). Hyperparameters are keyword
arguments of the config's ``training()``, ``env_runners()``, ``learners()`` or ``reporting()``
(``lr``, ``train_batch_size``, ``num_env_runners``, ``num_learners``...), RLlib
``DefaultModelConfig`` fields (``fcnet_hiddens``...), or ``seed``; anything else raises
ValueError naming it.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

from metagame.agents.arena import role
from metagame.agents.rllib.encoding import is_masked
from metagame.agents.rllib.env import is_single_agent, register_env
from metagame.agents.rllib.modules import _MODEL_KEYS, agent_spec, algorithm_config, check_algo
from metagame.agents.rllib.quiet import quiet_notices
from metagame.envs.registration import make

SHARING = ("all", "per_role", "per_agent")
SHARED_MODULE = "shared"


def _keywords(config: AlgorithmConfig, method: str) -> set[str]:
    """Every keyword ``config.<method>()`` accepts, through its class hierarchy."""
    names: set[str] = set()
    for cls in type(config).__mro__:
        if method in vars(cls):
            params = inspect.signature(vars(cls)[method]).parameters.values()
            names |= {
                p.name
                for p in params
                if p.kind is p.KEYWORD_ONLY
                or (p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self")
            }
    return names


class _ModuleMapping:
    """Picklable policy_mapping_fn: agent id -> module id under a sharing scheme."""

    def __init__(self, sharing: str):
        self.sharing = sharing

    def __call__(self, agent_id: str, episode: Any = None, **kwargs: Any) -> str:
        if self.sharing == "all":
            return SHARED_MODULE
        if self.sharing == "per_role":
            return role(agent_id)
        return str(agent_id)


def module_ids(agents: list[str], sharing: str) -> dict[str, str]:
    """Agent -> module id for a sharing scheme."""
    mapping = _ModuleMapping(sharing)
    return {a: mapping(a) for a in agents}


def rllib_config(
    env_name: str,
    algo: str = "PPO",
    sharing: Literal["all", "per_role", "per_agent"] = "all",
    env_kwargs: dict[str, Any] | None = None,
    **hparams: Any,
) -> AlgorithmConfig:
    """A ready AlgorithmConfig (new API stack, torch) training ``algo`` on ``env_name``.

    ``algo``: PPO, MMD (PPO with a magnet KL, :mod:`metagame.agents.rllib.magnet`; its
    ``magnet_kl_coeff`` and ``magnet_update_every`` are hyperparameters like PPO's), APPO,
    IMPALA, DQN (Discrete actions), SAC (continuous one-player games) or MAPPO (PPO with a
    critic on the global state, :mod:`metagame.agents.rllib.mappo`). Build with
    ``config.build_algo()``; masked, encoded modules are already configured.
    """
    if str(algo).upper() == "MAPPO":
        from metagame.agents.rllib.mappo import mappo_config

        return mappo_config(env_name, sharing, env_kwargs, **hparams)
    algo = check_algo(algo)
    if sharing not in SHARING:
        raise ValueError(f"sharing must be one of {', '.join(SHARING)}, got {sharing!r}")
    env_kwargs = dict(env_kwargs or {})
    env = make(env_name, **env_kwargs)
    quiet_notices()
    config = algorithm_config(algo)
    hparams = dict(hparams)
    seed = hparams.pop("seed", None)
    model = {k: hparams.pop(k) for k in list(hparams) if k in _MODEL_KEYS}
    sections = {
        m: _keywords(config, m) for m in ("training", "env_runners", "learners", "reporting")
    }
    unknown = sorted(set(hparams).difference(*sections.values()))
    if unknown:
        raise ValueError(
            f"unknown hyperparameters for {algo}: {', '.join(unknown)} (use keys of "
            f"{type(config).__name__}.training()/env_runners()/learners()/reporting() or "
            f"DefaultModelConfig)"
        )
    # RLlib's env pre-check steps the env once with unmasked samples of the action spaces, which
    # a game with action masks rightly rejects as illegal; such envs are checked by PettingZoo's
    # api_test and by the adapter (illegal actions raise) instead.
    masked = any(is_masked(env.observation_space(a)) for a in env.possible_agents)
    config.environment(register_env(env_name, env_kwargs), disable_env_checking=masked)
    config.framework("torch")
    for method, keys in sections.items():
        getattr(config, method)(**{k: v for k, v in hparams.items() if k in keys})
    if seed is not None:
        config.debugging(seed=int(seed))

    auto = config.model_config  # the algorithm's own module settings (e.g. DQN's dueling)
    agents = list(env.possible_agents)
    if is_single_agent(env):
        spec = agent_spec(
            env.observation_space(agents[0]), env.action_space(agents[0]), algo, **model
        )
        config.rl_module(rl_module_spec=spec)
        env.close()
        return config
    if algo == "SAC":
        raise ValueError("SAC is supported for one-player games only; use PPO, APPO or DQN")
    ids = module_ids(agents, sharing)
    specs: dict[str, Any] = {}
    for agent in agents:
        spec = agent_spec(
            env.observation_space(agent), env.action_space(agent), algo, auto, **model
        )
        mid = ids[agent]
        if mid in specs and (
            specs[mid].observation_space != spec.observation_space
            or specs[mid].action_space != spec.action_space
        ):
            raise ValueError(
                f"agents sharing module {mid!r} have different spaces (e.g. {agent}); "
                f"use sharing='per_role' or 'per_agent'"
            )
        specs.setdefault(mid, spec)
    env.close()
    buffer = getattr(config, "replay_buffer_config", None)
    if buffer and buffer.get("type") in ("PrioritizedEpisodeReplayBuffer", "EpisodeReplayBuffer"):
        config.training(replay_buffer_config={**buffer, "type": "MultiAgent" + buffer["type"]})
    # a list, not a set: modules are built (and so seeded) in a fixed order
    config.multi_agent(policies=list(specs), policy_mapping_fn=_ModuleMapping(sharing))
    config.rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
    return config
