"""Token-level LLM preference duel learners: a small causal transformer policy, supervised
pre-training, and SPO self-play with a Nash-MD KL-to-reference term on RLlib's new API stack.

``train_duel`` and ``win_rate`` (from ``train``) are the entry points; importing this package
does not import Ray.
"""
