"""RLlib (new API stack) learners for every metagame environment.

``rllib_config(env_name, algo, sharing, env_kwargs, **hparams)`` returns a ready
``AlgorithmConfig``; ``register_env`` registers a game with Ray Tune; ``module_spec`` builds one
agent's masked RLModule spec; ``init_ray`` starts Ray quietly. Ray is imported only when one
of these is used.
"""

from __future__ import annotations

from metagame._lazy import lazy_exports

_EXPORTS = {
    "init_ray": "metagame.agents.rllib.cluster",
    "rllib_config": "metagame.agents.rllib.config",
    "register_env": "metagame.agents.rllib.env",
    "module_spec": "metagame.agents.rllib.modules",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
