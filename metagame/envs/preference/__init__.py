"""Preference games: candidates, trajectories and token-level responses judged pairwise.

- ``matrix.PreferenceGameEnv`` (``make("preference", P=...)``): the one-shot symmetric game over
  n candidates with payoff P - 1/2.
- ``trajectory.TrajectoryPreferenceEnv`` (``make("trajectory_preference", task=...)``): two
  episodes of a one-player task judged by a preference over trajectories.
- ``duel.LLMDuelEnv`` (``make("llm_duel")``): responses written token by token, judged by a
  rule panel, an embedding model, a reward model, an LM asked which answer is better, or a
  callable (``judges``); the players are a small word-level transformer or any local
  ``transformers`` causal LM (``model=PATH``, ``lm``; ``tiny_lm`` builds one offline).
- ``models``: Bradley-Terry, rater panels (Condorcet cycles), skew-symmetric noise.
- ``battles``: pairwise battle logs -> counts, P and confidence bounds (``from_battles``).
"""

from metagame.envs.preference.battles import Battles, from_battles, sample_battles, write_battles
from metagame.envs.preference.models import (
    bradley_terry,
    condorcet_winner,
    cyclic_panel,
    rater_panel,
    skew_symmetric_noise,
)

__all__ = [
    "Battles",
    "bradley_terry",
    "condorcet_winner",
    "cyclic_panel",
    "from_battles",
    "rater_panel",
    "sample_battles",
    "skew_symmetric_noise",
    "write_battles",
]
