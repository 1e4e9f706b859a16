"""Exact best response to a mixture of policies in a small OpenSpiel game: PSRO's exact oracle.

PSRO (Lanctot et al., 2017, "A unified game-theoretic approach to multiagent reinforcement
learning") grows a population by adding a best response to the meta-strategy, a mixture over the
population. In an OpenSpiel game small enough to walk, that best response is computed exactly
instead of trained:

1. the mixture of behavioural policies becomes one behavioural policy by Kuhn's theorem
   (OpenSpiel's ``PolicyAggregator``: each member weighted by its weight times its own reach
   probability of the information state);
2. OpenSpiel's ``BestResponsePolicy`` (``open_spiel.python.algorithms.best_response``) gives,
   for each seat, the pure action maximising the counterfactual-reach-weighted value at every
   information state of that seat, and the best response's value;
3. the actions are written into a table keyed by the observation the PettingZoo bridge
   (:mod:`metagame.envs.openspiel`) shows the player there, held by an
   :class:`ObservationTableRLModule`: an RLModule, so the best response is a metagame policy
   (:class:`metagame.agents.policy.RLModulePolicy`) that ``save_policy`` checkpoints like any
   trained player.

Members are callables from the bridge's observation ``{"observation", "action_mask"}`` to a
probability vector over actions (e.g. ``functools.partial(action_probabilities, policy)`` with
``metagame.league.exploitability.action_probabilities``). The table needs observations that tell
apart the information states where the best response acts differently (the information-state
tensors the bridge observes imperfect-information games by do; Leduc's observation tensor, which
omits the betting history, does not): otherwise ValueError.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.columns import Columns

from metagame.agents.policy import RLModulePolicy
from metagame.agents.rllib.encoding import OBS_KEY, ObservationCodec, space_from_json
from metagame.agents.rllib.modules import (
    RAW_SPACE_KEY,
    CategoricalTorchRLModule,
    log_mask,
    module_spec,
    split_mask,
)
from metagame.envs.registration import make

Member = Callable[[dict[str, np.ndarray]], np.ndarray]
NUM_STATES_KEY = "num_states"


class ObservationTableRLModule(CategoricalTorchRLModule):
    """A policy as a table: observation features -> action probabilities.

    Buffers ``keys`` (states, features) and ``probs`` (states, actions); an observation whose
    features equal a key plays that key's distribution (a best response's is one-hot), any
    other plays uniformly over its legal actions. ``model_config``: ``num_states`` and
    ``metagame_observation_space`` (the raw observation space as JSON, as in every metagame
    module spec).
    """

    def setup(self) -> None:
        if not isinstance(self.action_space, gym.spaces.Discrete):
            raise ValueError(
                f"a table policy needs a Discrete action space, got {self.action_space}"
            )
        codec = ObservationCodec(space_from_json(self.model_config[RAW_SPACE_KEY]))
        flat = not isinstance(self.observation_space, gym.spaces.Dict)
        self.mask_size = codec.mask_size if flat else 0
        width = codec.features(np.zeros(codec.raw_space[OBS_KEY].shape)).size
        states = int(self.model_config[NUM_STATES_KEY])
        self.register_buffer("keys", torch.zeros(states, width))
        self.register_buffer("probs", torch.ones(states, int(self.action_space.n)))
        # RLlib's Learner builds an optimizer for every module it holds, frozen ones too
        self._dummy = torch.nn.Parameter(torch.zeros(1), requires_grad=False)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Reads the tables of earlier versions too, which held one best action per state
        (``actions``) and no ``_dummy`` parameter."""
        actions = state_dict.pop(prefix + "actions", None)
        if actions is not None and prefix + "probs" not in state_dict:
            n = int(self.action_space.n)
            state_dict[prefix + "probs"] = torch.nn.functional.one_hot(actions.long(), n).float()
        if actions is not None:
            state_dict.setdefault(prefix + "_dummy", torch.zeros(1))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def rows(self, features: torch.Tensor) -> torch.Tensor:
        """The row of ``keys`` equal to each row of ``features`` (the first such row), or -1.

        A dictionary from each key's bytes, rebuilt when the buffer changes (a state load
        copies into it, which bumps its version): comparing every observation with every key
        cost 10 ms a step on Leduc's 936 information states.
        """
        stamp = (self.keys.data_ptr(), self.keys._version)
        if getattr(self, "_index_stamp", None) != stamp:
            keys = _row_bytes(self.keys)
            self._index = {k: i for i, k in reversed(list(enumerate(keys))) if k is not None}
            self._index_stamp = stamp
        found = [self._index.get(k, -1) for k in _row_bytes(features)]
        return torch.tensor(found, dtype=torch.long)

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        mask, batch = split_mask(batch, self.mask_size)
        features = batch[Columns.OBS].reshape(len(batch[Columns.OBS]), -1).float()
        rows = self.rows(features)
        chosen = self.probs[rows.clamp(min=0)]
        probs = torch.where((rows >= 0)[:, None], chosen, torch.ones_like(chosen))
        logits = log_mask(probs)
        return {Columns.ACTION_DIST_INPUTS: logits if mask is None else logits + log_mask(mask)}


def _row_bytes(matrix: torch.Tensor) -> list[bytes]:
    """Each row of a float matrix as bytes, equal exactly when the rows compare equal (-0.0 is
    made 0.0 first; NaN features never match, as under ``==``)."""
    rows = np.ascontiguousarray(matrix.detach().cpu().numpy(), dtype=np.float32) + np.float32(0)
    unmatched = np.isnan(rows).any(axis=1)
    return [None if bad else r.tobytes() for r, bad in zip(rows, unmatched, strict=True)]


@dataclass
class ExactBestResponse:
    """The best response as a policy (``policy.module`` is what ``save_policy`` and the league's
    ``save_player`` take) and its value in each seat it plays against the mixture."""

    policy: RLModulePolicy
    values: dict[int, float]


def _spiel_policy(game: Any, env: Any, member: Member):
    """An OpenSpiel policy playing a metagame member on the bridge's observations."""
    from open_spiel.python import policy as os_policy

    bridge = env.unwrapped

    class _Member(os_policy.Policy):
        def __init__(self):
            super().__init__(game, list(range(game.num_players())))
            self.cache: dict[tuple[int, str], np.ndarray] = {}

        def action_probabilities(self, state, player_id=None):
            player = state.current_player() if player_id is None else player_id
            key = (player, state.information_state_string(player))
            if key not in self.cache:
                self.cache[key] = np.asarray(member(bridge.observation_at(state, player)), float)
            probs = self.cache[key]
            return {a: float(probs[a]) for a in state.legal_actions(player)}

    return _Member()


def exact_best_response(
    env_name: str,
    members: Sequence[Member],
    weights: Sequence[float],
    env_kwargs: dict[str, Any] | None = None,
    seats: Sequence[int] | None = None,
) -> ExactBestResponse:
    """The exact best response, in every seat of ``seats`` (default all), to the mixture of
    ``members`` with ``weights`` playing the other seats of ``openspiel:<game>`` ``env_name``.

    ValueError for a game that is not a sequential OpenSpiel game, weights that are not a
    distribution over the members, or observations that merge information states where the
    best response differs.
    """
    import pyspiel
    from open_spiel.python.algorithms.best_response import BestResponsePolicy
    from open_spiel.python.algorithms.policy_aggregator import PolicyAggregator

    env_kwargs = dict(env_kwargs or {})
    weights = np.asarray(weights, dtype=np.float64)
    if len(members) == 0 or len(members) != len(weights):
        raise ValueError(f"got {len(members)} members for {len(weights)} weights")
    if np.any(~np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError(f"weights must be non-negative and not all zero, got {weights}")
    if not env_name.startswith("openspiel:"):
        raise ValueError(f"exact best responses need an openspiel:<game>, got {env_name!r}")
    env = make(env_name, **env_kwargs)
    bridge = env.unwrapped
    game = bridge.game
    if game.get_type().dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
        raise ValueError(f"{env_name}: exact best responses need a sequential (turn-based) game")
    seats = list(range(game.num_players())) if seats is None else [int(s) for s in seats]
    if any(not 0 <= s < game.num_players() for s in seats):
        raise ValueError(f"seats must lie in 0..{game.num_players() - 1}, got {seats}")
    players = list(range(game.num_players()))
    policies = [_spiel_policy(game, env, m) for m in members]
    share = list(weights / weights.sum())
    mixture = PolicyAggregator(game).aggregate(
        players, [policies] * len(players), [share] * len(players)
    )
    codec = ObservationCodec(env.observation_space(env.possible_agents[0]))
    table: dict[bytes, tuple[int, np.ndarray, str]] = {}
    values = {}
    for seat in seats:
        response = BestResponsePolicy(game, seat, mixture)
        values[seat] = float(response.value(game.new_initial_state()))
        for infostate, nodes in response.infosets.items():
            action = int(response.best_response_action(infostate))
            features = codec.features(bridge.observation_at(nodes[0][0], seat)[OBS_KEY])
            features = np.asarray(features, np.float32).ravel()
            key = features.tobytes()
            if key in table and table[key][0] != action:
                raise ValueError(
                    f"{env_name}: information states {table[key][2]!r} and {infostate!r} look "
                    f"the same to the player but need different best-response actions; the "
                    f"exact oracle needs observations that identify information states"
                )
            table[key] = (action, features, infostate)
    env.close()
    return ExactBestResponse(_table_policy(env_name, env_kwargs, table), values)


def _table_policy(
    env_name: str, env_kwargs: dict[str, Any], table: dict[bytes, tuple[int, np.ndarray, str]]
) -> RLModulePolicy:
    spec = module_spec(env_name, env_kwargs)
    raw = spec.model_config[RAW_SPACE_KEY]
    module = ObservationTableRLModule(
        observation_space=spec.observation_space,
        action_space=spec.action_space,
        inference_only=False,
        model_config={RAW_SPACE_KEY: raw, NUM_STATES_KEY: len(table)},
    )
    rows = list(table.values())
    module.keys.copy_(torch.as_tensor(np.stack([f for _, f, _ in rows])))
    actions = torch.as_tensor([a for a, _, _ in rows], dtype=torch.long)
    module.probs.copy_(torch.nn.functional.one_hot(actions, module.probs.shape[1]).float())
    module.eval()
    return RLModulePolicy(module, space_from_json(raw), greedy=True, id="exact_best_response")
