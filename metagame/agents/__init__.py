"""Everything that acts: RLlib learner configs, policies, planners and tabular learners.

Names are imported lazily, so ``from metagame.agents import plan`` never imports Ray.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "rllib_config": "metagame.agents.rllib",
    "play": "metagame.agents.play",
    "Policy": "metagame.agents.policy",
    "RandomPolicy": "metagame.agents.policy",
    "MixedStrategyPolicy": "metagame.agents.policy",
    "load_policy": "metagame.agents.policy",
    "plan": "metagame.agents.planners",
    "minimax_q": "metagame.agents.tabular",
    "independent_q": "metagame.agents.tabular",
    "preference": "metagame.agents.preference",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(_EXPORTS[name])
        return module if module.__name__.endswith("." + name) else getattr(module, name)
    raise AttributeError(f"module 'metagame.agents' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
