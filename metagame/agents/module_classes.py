"""The RLModule classes a policy checkpoint may name, and nothing else.

A checkpoint records its module's class by a stable name (``"MaskedPPOTorchRLModule"``), and
:func:`module_class` turns that name into the class through this table. The table is code: a
checkpoint never makes metagame import a module or follow an attribute it names, so a file
cannot run the top-level code of a module of its choosing (an RLlib example script, say) nor
reach ``os.system`` through some module's namespace. Checkpoints written before stable names
(version 1) stored ``"module:qualname"``; those strings are accepted exactly when they are the
definition site of a class in the table, or a site it had before a move (``moved_from``: the
token duel's module lived in ``metagame.agents.duel`` before that package became
``metagame.agents.lm``).

Each entry imports its class on first use, so reading the table costs nothing until a module
is built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ModuleClass:
    """One allowed class: the module that defines it, its name there, which of its
    ``model_config`` keys name files (dropped on load: ``weights.pt`` holds the whole state),
    and the modules that defined it before it moved (read in version-1 checkpoints only)."""

    module: str
    name: str
    file_keys: tuple[str, ...] = ()
    moved_from: tuple[str, ...] = ()

    def load(self) -> type:
        """The class, its module imported on first use (both named by this table)."""
        return getattr(importlib.import_module(self.module), self.name)


_MASKED = "metagame.agents.rllib.modules"
_MAPPO = "metagame.agents.rllib.mappo"
_RLLIB = "ray.rllib.algorithms"

MODULE_CLASSES: dict[str, ModuleClass] = {
    entry.name: entry
    for entry in (
        ModuleClass(_MASKED, "MaskedPPOTorchRLModule"),
        ModuleClass(_MASKED, "MaskedAPPOTorchRLModule"),
        ModuleClass(_MASKED, "MaskedDQNTorchRLModule"),
        ModuleClass(_MASKED, "MaskedRandomRLModule"),
        ModuleClass(_MAPPO, "MAPPOTorchRLModule"),
        ModuleClass(_MAPPO, "MAPPOUnmaskedTorchRLModule"),
        ModuleClass(f"{_RLLIB}.ppo.torch.default_ppo_torch_rl_module", "DefaultPPOTorchRLModule"),
        ModuleClass(
            f"{_RLLIB}.appo.torch.default_appo_torch_rl_module", "DefaultAPPOTorchRLModule"
        ),
        ModuleClass(f"{_RLLIB}.dqn.torch.default_dqn_torch_rl_module", "DefaultDQNTorchRLModule"),
        ModuleClass(f"{_RLLIB}.sac.torch.default_sac_torch_rl_module", "DefaultSACTorchRLModule"),
        ModuleClass(
            "metagame.agents.lm.rlmodule",
            "DuelRLModule",
            file_keys=("weights",),
            moved_from=("metagame.agents.duel.rlmodule",),
        ),
        ModuleClass("metagame.agents.exact_response", "ObservationTableRLModule"),
        ModuleClass("metagame.agents.rllib.drivers", "TrafficDriverRLModule"),
        ModuleClass("metagame.agents.rllib.conditional", "MixtureConditionedRLModule"),
    )
}

# "module:qualname" as version-1 checkpoints stored it -> stable name
_DEFINED = {f"{entry.module}:{name}": name for name, entry in MODULE_CLASSES.items()}
_LEGACY = {
    **_DEFINED,
    **{
        f"{module}:{name}": name
        for name, entry in MODULE_CLASSES.items()
        for module in entry.moved_from
    },
}


def stable_name(cls: type) -> str | None:
    """The stable name of a class in the table (None for any other class)."""
    return _DEFINED.get(f"{cls.__module__}:{cls.__qualname__}")


def lookup(value: object) -> tuple[str, ModuleClass] | None:
    """The entry a checkpoint's ``module_class`` value names (a stable name, or a legacy
    ``"module:qualname"`` of a class in the table), or None. Imports nothing."""
    if not isinstance(value, str):
        return None
    name = value if value in MODULE_CLASSES else _LEGACY.get(value)
    return None if name is None else (name, MODULE_CLASSES[name])
