"""LoRA adapters (Hu et al., 2022) on a ``transformers`` model through ``peft``.

Only the low-rank adapters on the attention weights train; with the adapters switched off
(``model.disable_adapter()``) the network is the frozen base model, which the duel learners use
as their reference policy instead of holding a second copy.
"""

from __future__ import annotations

from typing import Any

LORA_KEYS = {"r", "alpha", "target_modules"}


def with_lora(model, lora: dict[str, Any]):
    """``model`` wrapped by ``peft`` with LoRA adapters of rank ``r`` (dropout off)."""
    unknown = set(lora) - LORA_KEYS
    if unknown:
        raise ValueError(
            f"lora: unknown keys {sorted(unknown)} (expected r, alpha, target_modules)"
        )
    try:
        from peft import LoraConfig, get_peft_model
        from transformers.pytorch_utils import Conv1D
    except ImportError:
        raise ValueError("lora needs the optional package peft (pip install peft)") from None
    config = LoraConfig(
        r=int(lora.get("r", 8)),
        lora_alpha=float(lora.get("alpha", 16)),
        lora_dropout=0.0,
        target_modules=lora.get("target_modules"),
        fan_in_fan_out=any(isinstance(m, Conv1D) for m in model.modules()),  # GPT-2's layers
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)
