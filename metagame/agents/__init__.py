"""Everything that acts: RLlib learner configs, policies, planners and Q-learners.

Names are imported lazily, so ``from metagame.agents import plan`` never imports Ray.
"""

from __future__ import annotations

from metagame._lazy import lazy_exports

# name -> "module:attribute", or "module:" for a submodule exported as itself.
_EXPORTS = {
    "rllib_config": "metagame.agents.rllib:rllib_config",
    "play": "metagame.agents.arena:play",
    "evaluate": "metagame.agents.evaluation:evaluate",
    "Policy": "metagame.agents.policy:Policy",
    "RandomPolicy": "metagame.agents.policy:RandomPolicy",
    "MixedStrategyPolicy": "metagame.agents.policy:MixedStrategyPolicy",
    "TabularPolicy": "metagame.agents.policy:TabularPolicy",
    "RLModulePolicy": "metagame.agents.policy:RLModulePolicy",
    "load_policy": "metagame.agents.policy:load_policy",
    "save_policy": "metagame.agents.policy:save_policy",
    "plan": "metagame.agents.planners:plan",
    "IDMPolicy": "metagame.agents.drivers:IDMPolicy",
    "minimax_q": "metagame.agents.q_learning:minimax_q",
    "independent_q": "metagame.agents.q_learning:independent_q",
    "preference": "metagame.agents.preference:",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
