"""The RLModule classes a policy checkpoint may name, and nothing else.

A checkpoint records its module's class by a stable name (``"MaskedPPOTorchRLModule"``), and
:func:`module_class` turns that name into the class through this table. The table is code: a
checkpoint never makes metagame import a module or follow an attribute it names, so a file
cannot run the top-level code of a module of its choosing (an RLlib example script, say) nor
reach ``os.system`` through some module's namespace. Checkpoints written before stable names
(version 1) stored ``"module:qualname"``; those strings are accepted exactly when they are the
definition site of a class in the table.

Each entry imports its class lazily, so reading the table costs nothing until a module is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ModuleClass:
    """One allowed class: where it is defined, how to import it, and which of its
    ``model_config`` keys name files (dropped on load: ``weights.pt`` holds the whole state)."""

    module: str
    load: Callable[[], type]
    file_keys: tuple[str, ...] = ()


def _masked(name: str) -> Callable[[], type]:
    def load() -> type:
        from metagame.agents.rllib import modules

        return {
            "MaskedPPOTorchRLModule": modules.MaskedPPOTorchRLModule,
            "MaskedAPPOTorchRLModule": modules.MaskedAPPOTorchRLModule,
            "MaskedDQNTorchRLModule": modules.MaskedDQNTorchRLModule,
            "MaskedRandomRLModule": modules.MaskedRandomRLModule,
        }[name]

    return load


def _mappo(name: str) -> Callable[[], type]:
    def load() -> type:
        from metagame.agents.rllib import mappo

        return {
            "MAPPOTorchRLModule": mappo.MAPPOTorchRLModule,
            "MAPPOUnmaskedTorchRLModule": mappo.MAPPOUnmaskedTorchRLModule,
        }[name]

    return load


def _ppo() -> type:
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import (
        DefaultPPOTorchRLModule,
    )

    return DefaultPPOTorchRLModule


def _appo() -> type:
    from ray.rllib.algorithms.appo.torch.default_appo_torch_rl_module import (
        DefaultAPPOTorchRLModule,
    )

    return DefaultAPPOTorchRLModule


def _dqn() -> type:
    from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import (
        DefaultDQNTorchRLModule,
    )

    return DefaultDQNTorchRLModule


def _sac() -> type:
    from ray.rllib.algorithms.sac.torch.default_sac_torch_rl_module import (
        DefaultSACTorchRLModule,
    )

    return DefaultSACTorchRLModule


def _duel() -> type:
    from metagame.agents.duel.rlmodule import DuelRLModule

    return DuelRLModule


def _driver() -> type:
    from metagame.agents.rllib.drivers import TrafficDriverRLModule

    return TrafficDriverRLModule


def _table() -> type:
    from metagame.agents.exact_response import ObservationTableRLModule

    return ObservationTableRLModule


_MASKED_SITE = "metagame.agents.rllib.modules"
_MAPPO_SITE = "metagame.agents.rllib.mappo"
_RLLIB = "ray.rllib.algorithms"

MODULE_CLASSES: dict[str, ModuleClass] = {
    "MaskedPPOTorchRLModule": ModuleClass(_MASKED_SITE, _masked("MaskedPPOTorchRLModule")),
    "MaskedAPPOTorchRLModule": ModuleClass(_MASKED_SITE, _masked("MaskedAPPOTorchRLModule")),
    "MaskedDQNTorchRLModule": ModuleClass(_MASKED_SITE, _masked("MaskedDQNTorchRLModule")),
    "MaskedRandomRLModule": ModuleClass(_MASKED_SITE, _masked("MaskedRandomRLModule")),
    "MAPPOTorchRLModule": ModuleClass(_MAPPO_SITE, _mappo("MAPPOTorchRLModule")),
    "MAPPOUnmaskedTorchRLModule": ModuleClass(_MAPPO_SITE, _mappo("MAPPOUnmaskedTorchRLModule")),
    "DefaultPPOTorchRLModule": ModuleClass(f"{_RLLIB}.ppo.torch.default_ppo_torch_rl_module", _ppo),
    "DefaultAPPOTorchRLModule": ModuleClass(
        f"{_RLLIB}.appo.torch.default_appo_torch_rl_module", _appo
    ),
    "DefaultDQNTorchRLModule": ModuleClass(f"{_RLLIB}.dqn.torch.default_dqn_torch_rl_module", _dqn),
    "DefaultSACTorchRLModule": ModuleClass(f"{_RLLIB}.sac.torch.default_sac_torch_rl_module", _sac),
    "DuelRLModule": ModuleClass("metagame.agents.duel.rlmodule", _duel, file_keys=("weights",)),
    "ObservationTableRLModule": ModuleClass("metagame.agents.exact_response", _table),
    "TrafficDriverRLModule": ModuleClass("metagame.agents.rllib.drivers", _driver),
}

# "module:qualname" as version-1 checkpoints stored it -> stable name
_LEGACY = {f"{entry.module}:{name}": name for name, entry in MODULE_CLASSES.items()}


def stable_name(cls: type) -> str | None:
    """The stable name of a class in the table (None for any other class)."""
    return _LEGACY.get(f"{cls.__module__}:{cls.__qualname__}")


def lookup(value: object) -> tuple[str, ModuleClass] | None:
    """The entry a checkpoint's ``module_class`` value names (a stable name, or a legacy
    ``"module:qualname"`` of a class in the table), or None. Imports nothing."""
    if not isinstance(value, str):
        return None
    name = value if value in MODULE_CLASSES else _LEGACY.get(value)
    return None if name is None else (name, MODULE_CLASSES[name])
