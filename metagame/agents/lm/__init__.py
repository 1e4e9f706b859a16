"""Language-model players of the LLM preference duel (``metagame.envs.preference.duel``) and
their learners.

Token-level, on RLlib's new API stack: a small causal transformer (``token_transformer``),
supervised pre-training, and SPO self-play with a Nash-MD KL-to-reference term (``train_duel`` and
``win_rate`` from ``train``); for any ``transformers`` causal LM (``llm_duel`` with
``model=PATH``), ``train_lm_duel`` and ``lm_win_rate`` (from ``lm_train``, module ``lm_module``).

Sequence-level, for any causal LM: SPO, Nash-MD and INPO on whole answers sampled with
``generate`` (``train_sequence_duel`` from ``sequence_learner``, sampling and log-probabilities
in ``sequences``), the fast path. Both take a LoRA option (``lora``). Importing this package
does not import Ray.
"""
