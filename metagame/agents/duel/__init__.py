"""Token-level LLM preference duel learners: a small causal transformer policy, supervised
pre-training, and SPO self-play with a Nash-MD KL-to-reference term on RLlib's new API stack.

``train_duel`` and ``win_rate`` (from ``train``) are the entry points; for any ``transformers``
causal LM (``llm_duel`` with ``model=PATH``), ``train_lm_duel`` and ``lm_win_rate`` (from
``lm_train``, module ``lm_module``, optional LoRA). Importing this package does not import Ray.
"""
