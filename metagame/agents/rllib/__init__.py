"""RLlib (new API stack) learners for every metagame environment.

``rllib_config(env_name, algo, sharing, env_kwargs, **hparams)`` returns a ready
``AlgorithmConfig``; ``register_env`` registers a game with Ray Tune; ``module_spec`` builds one
agent's masked RLModule spec; ``init_ray`` starts Ray quietly. Ray is imported only when one
of these is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "init_ray": "metagame.agents.rllib.cluster",
    "rllib_config": "metagame.agents.rllib.config",
    "register_env": "metagame.agents.rllib.env",
    "module_spec": "metagame.agents.rllib.modules",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'metagame.agents.rllib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
