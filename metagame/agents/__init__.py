"""Everything that acts: RLlib learner configs, policies, planners and tabular learners.

Names are imported lazily, so ``from metagame.agents import plan`` never imports Ray.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> "module:attribute", or "module" for a submodule exported as itself.
_EXPORTS = {
    "rllib_config": "metagame.agents.rllib:rllib_config",
    "play": "metagame.agents.arena:play",
    "evaluate": "metagame.agents.evaluate:evaluate",
    "Policy": "metagame.agents.policy:Policy",
    "RandomPolicy": "metagame.agents.policy:RandomPolicy",
    "MixedStrategyPolicy": "metagame.agents.policy:MixedStrategyPolicy",
    "TabularPolicy": "metagame.agents.policy:TabularPolicy",
    "RLModulePolicy": "metagame.agents.policy:RLModulePolicy",
    "load_policy": "metagame.agents.policy:load_policy",
    "save_policy": "metagame.agents.policy:save_policy",
    "plan": "metagame.agents.planners:plan",
    "minimax_q": "metagame.agents.tabular:minimax_q",
    "independent_q": "metagame.agents.tabular:independent_q",
    "preference": "metagame.agents.preference",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module_name, _, attr = _EXPORTS[name].partition(":")
        module = importlib.import_module(module_name)
        value = getattr(module, attr) if attr else module
        globals()[name] = value  # later look-ups skip __getattr__
        return value
    raise AttributeError(f"module 'metagame.agents' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
