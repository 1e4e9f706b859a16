"""One base for every tabular Markov game (stochastic game, Shapley 1953).

A finite Markov game is a set of states ``s = 0..S-1``, per-player action sets, rewards
``R_i(s, a_1, ..., a_N)`` and transitions ``T(s' | s, a_1, ..., a_N)``. :class:`MarkovGameEnv`
holds exactly these arrays, steps a PettingZoo ``ParallelEnv`` from them (sampling ``s'`` from the
row of ``T``), and exports them through :meth:`MarkovGameEnv.tabular` as a :class:`Tabular` of
plain arrays that the solvers in ``metagame.solvers.markov`` take directly.

Conventions:

- the joint action ``(a_1, ..., a_N)`` is flattened in C order (``np.ravel_multi_index``);
- terminal states are absorbing with zero reward, so discounted values are finite;
- the reward of a step may depend on which successor the chance draw picked (in soccer, whether
  the randomly ordered moves scored): each stored transition of ``T`` carries the reward it
  realises (:meth:`MarkovGameEnv.outcomes`), and ``R`` is its expectation, which is all the
  solvers need;
- every agent observes the whole state as a small float vector (``observations[s]``); where a
  state forbids some actions (pursuit-evasion on a graph) the observation is
  ``{"observation", "action_mask"}`` and the tabular model maps a forbidden action to the
  effect of the first legal one, so solvers need no masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from gymnasium import spaces
from pettingzoo import ParallelEnv

from metagame.envs.masking import masked_space
from metagame.envs.rendered import Rendered


@dataclass(frozen=True)
class Tabular:
    """A Markov game as plain arrays.

    Attributes:
        R: player 0's reward ``R[s, a_1, ..., a_N]`` (for a two-player zero-sum game, player 1
            receives ``-R``).
        T: transitions ``T[s, a_1, ..., a_N, s']``: a dense array, or with ``sparse=True`` a
            ``scipy.sparse.csr_array`` of shape ``(S * A_1 * ... * A_N, S)``.
        initial: initial-state distribution, shape ``(S,)``.
        terminal: boolean mask of absorbing terminal states, shape ``(S,)``.
        observations: ``observations[s]`` is the observation vector of state ``s``, ``(S, d)``.
        rewards: every player's reward, ``rewards[i, s, a_1, ..., a_N]``.
        gamma: the discount the game is meant to be solved with.
        zero_sum: whether ``rewards`` sum to zero over the players everywhere.
    """

    R: np.ndarray
    T: np.ndarray | sp.csr_array
    initial: np.ndarray
    terminal: np.ndarray
    observations: np.ndarray
    rewards: np.ndarray
    gamma: float
    zero_sum: bool

    @property
    def num_states(self) -> int:
        return self.R.shape[0]

    @property
    def num_actions(self) -> tuple[int, ...]:
        return self.R.shape[1:]

    def state_id(self, observation: np.ndarray) -> int:
        """The state whose observation vector equals ``observation``."""
        obs = np.asarray(observation, dtype=self.observations.dtype).ravel()
        hits = np.flatnonzero((self.observations == obs).all(axis=1))
        if hits.size == 0:
            raise ValueError(f"observation {obs.tolist()} is not the observation of any state")
        return int(hits[0])

    def teams(self, first: int) -> Tabular:
        """The same game with players ``0..first-1`` merged into one player and the rest into a
        second one (joint actions flattened in C order), e.g. k pursuers against an evader.
        Team members share rewards: a team's reward is its first member's."""
        n = len(self.num_actions)
        if not 0 < first < n:
            raise ValueError(f"teams: first must lie in 1..{n - 1}, got {first}")
        a = int(np.prod(self.num_actions[:first]))
        b = int(np.prod(self.num_actions[first:]))
        S = self.num_states
        T = self.T if sp.issparse(self.T) else self.T.reshape(S, a, b, S)
        return Tabular(
            self.R.reshape(S, a, b),
            T,
            self.initial,
            self.terminal,
            self.observations,
            self.rewards[[0, first]].reshape(2, S, a, b),
            self.gamma,
            self.zero_sum,
        )


class MarkovGameEnv(Rendered, ParallelEnv):
    """A PettingZoo Parallel env stepped from reward and transition arrays.

    Subclasses build the arrays and call :meth:`_set_model`; they draw themselves in
    :meth:`_frame`.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 4, "is_parallelizable": True}

    def _set_model(
        self,
        agents: list[str],
        rewards: np.ndarray | None,
        transitions: sp.csr_array,
        initial: np.ndarray,
        terminal: np.ndarray,
        observations: np.ndarray,
        *,
        masks: list[np.ndarray] | None = None,
        gamma: float = 1.0,
        max_steps: int | None = None,
        render_mode: str | None = None,
        outcome_rewards: np.ndarray | None = None,
        shape: tuple[int, ...] | None = None,
    ) -> None:
        """Installs the model.

        Args:
            agents: player names, in the order of the action axes.
            rewards: ``(N, S, A_1, ..., A_N)`` rewards, realised whatever the successor; or None
                with ``outcome_rewards`` and ``shape`` (the action counts) given instead.
            transitions: ``(S * prod(A), S)`` sparse transition matrix, rows summing to one.
            initial: ``(S,)`` initial distribution. terminal: ``(S,)`` bool.
            observations: ``(S, d)`` observation vector of every state.
            masks: per player, ``(S, A_i)`` legal-action masks (None when all are legal).
            outcome_rewards: ``(N, nnz)``, the reward each stored transition of
                ``sp.csr_array(transitions)`` (canonical order) realises.
        """
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer or None, got {max_steps}")
        self.possible_agents = list(agents)
        self.agents: list[str] = []
        self.render_mode = render_mode
        self.max_steps = max_steps
        self.gamma = float(gamma)
        self._T = sp.csr_array(transitions, copy=True)
        self._T.sum_duplicates()
        S = self._T.shape[1]
        if outcome_rewards is None:
            self._rewards = np.ascontiguousarray(rewards, dtype=np.float64)
            self._shape = tuple(int(a) for a in rewards.shape[2:])
            self._outcome_rewards = self._rewards.reshape(len(agents), -1)[:, _rows(self._T)]
        else:
            self._shape = tuple(int(a) for a in shape)
            self._outcome_rewards = np.asarray(outcome_rewards, dtype=np.float64)
            if self._outcome_rewards.shape != (len(agents), self._T.nnz):
                raise ValueError(
                    f"outcome_rewards must have shape {(len(agents), self._T.nnz)}, "
                    f"got {self._outcome_rewards.shape}"
                )
            weighted = self._outcome_rewards * self._T.data
            self._rewards = np.stack(
                [np.bincount(_rows(self._T), w, self._T.shape[0]) for w in weighted]
            ).reshape(len(agents), S, *self._shape)
        self._cum = np.cumsum(self._T.data)  # per-row CDFs after subtracting the row's start
        self._initial = np.asarray(initial, dtype=np.float64)
        self._terminal = np.asarray(terminal, dtype=bool)
        self._obs = np.asarray(observations, dtype=np.float32).reshape(S, -1)
        self._masks = None if masks is None else [np.asarray(m, dtype=np.int8) for m in masks]
        self._rng = np.random.default_rng()
        self._state = int(np.argmax(self._initial))
        self._t = 0
        self._last: tuple[int, ...] | None = None
        box = spaces.Box(self._obs.min(0), self._obs.max(0), dtype=np.float32)
        self._obs_spaces = {}
        for i, agent in enumerate(self.possible_agents):
            if self._masks is None:
                self._obs_spaces[agent] = box
            else:
                self._obs_spaces[agent] = masked_space(box, self._shape[i])
        self._act_spaces = {a: spaces.Discrete(n) for a, n in zip(agents, self._shape)}

    # -- PettingZoo API ---------------------------------------------------------------------

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            for i, agent in enumerate(self.possible_agents):
                self._act_spaces[agent].seed(seed + 1 + i)
        self._state = int(self._rng.choice(self._initial.size, p=self._initial))
        self._t = 0
        self._last = None
        self.agents = list(self.possible_agents)
        return self._observe(), {a: {"state": self._state} for a in self.agents}

    def step(self, actions: dict):
        if not self.agents:
            raise ValueError("step called on a finished episode; call reset() first")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"step: no action for {missing}")
        joint = []
        for i, agent in enumerate(self.possible_agents):
            a = actions[agent]
            if not (np.ndim(a) == 0 and float(a) == int(a) and 0 <= int(a) < self._shape[i]):
                raise ValueError(f"step: action {a!r} of {agent} is not in 0..{self._shape[i] - 1}")
            if self._masks is not None and not self._masks[i][self._state, int(a)]:
                raise ValueError(f"step: action {int(a)} of {agent} is illegal in this state")
            joint.append(int(a))
        lo, hi = self._row_span(self._state, joint)
        base = self._cum[lo - 1] if lo > 0 else 0.0
        u = base + self._rng.random() * (self._cum[hi - 1] - base)
        k = lo + min(int(np.searchsorted(self._cum[lo:hi], u, side="right")), hi - lo - 1)
        self._state = int(self._T.indices[k])
        self._t += 1
        self._last = tuple(joint)
        r = self._outcome_rewards[:, k]
        done = bool(self._terminal[self._state])
        cut = self.max_steps is not None and self._t >= self.max_steps and not done
        agents = self.agents
        obs = self._observe()
        rewards = {a: float(r[i]) for i, a in enumerate(agents)}
        terms = dict.fromkeys(agents, done)
        truncs = dict.fromkeys(agents, cut)
        infos = {a: {"state": self._state} for a in agents}
        if done or cut:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return obs, rewards, terms, truncs, infos

    def state(self) -> np.ndarray:
        return self._obs[self._state].copy()

    def outcomes(self, s: int, joint: tuple[int, ...]):
        """What joint action ``joint`` in state ``s`` can lead to: ``(successors, probabilities,
        rewards)``, ``rewards[i, k]`` being player i's reward when successor k is drawn."""
        lo, hi = self._row_span(s, joint)
        return self._T.indices[lo:hi], self._T.data[lo:hi], self._outcome_rewards[:, lo:hi]

    def _row_span(self, s: int, joint) -> tuple[int, int]:
        row = s * int(np.prod(self._shape)) + int(np.ravel_multi_index(joint, self._shape))
        return int(self._T.indptr[row]), int(self._T.indptr[row + 1])

    @property
    def state_id(self) -> int:
        """The current state's id in :meth:`tabular`."""
        return self._state

    @property
    def action_masks(self) -> list[np.ndarray] | None:
        """Per player, the ``(S, A_i)`` legal-action masks (1 where legal) of every state, or
        None when every action is legal everywhere."""
        return None if self._masks is None else [m.copy() for m in self._masks]

    def _observe(self) -> dict:
        obs = self._obs[self._state]
        if self._masks is None:
            return {a: obs.copy() for a in self.possible_agents}
        return {
            a: {"observation": obs.copy(), "action_mask": self._masks[i][self._state].copy()}
            for i, a in enumerate(self.possible_agents)
        }

    # -- tabular export -----------------------------------------------------------------------

    def tabular(self, sparse: bool = False) -> Tabular:
        """The game as arrays (see :class:`Tabular`); ``sparse=True`` keeps ``T`` sparse."""
        S = self._rewards.shape[1]
        T = self._T.copy() if sparse else self._T.toarray().reshape(S, *self._shape, S)
        zero_sum = bool(np.allclose(self._rewards.sum(0), 0.0))
        return Tabular(
            R=self._rewards[0].copy(),
            T=T,
            initial=self._initial.copy(),
            terminal=self._terminal.copy(),
            observations=self._obs.copy(),
            rewards=self._rewards.copy(),
            gamma=self.gamma,
            zero_sum=zero_sum,
        )

    # -- rendering ----------------------------------------------------------------------------

    def _frame(self) -> np.ndarray:
        from metagame.envs.rendering import text_frame

        return text_frame(f"state {self._state}  t={self._t}\n{self._obs[self._state].tolist()}")


def _rows(T: sp.csr_array) -> np.ndarray:
    """The row of every stored entry of a CSR matrix."""
    return np.repeat(np.arange(T.shape[0]), np.diff(T.indptr))


def transition_matrix(successors: np.ndarray, probs: np.ndarray, num_states: int) -> sp.csr_array:
    """Sparse ``(rows, S)`` transition matrix from successor lists ``successors[row, k]`` with
    probabilities ``probs[row, k]`` (duplicates are summed, zero-probability entries dropped)."""
    rows = np.repeat(np.arange(successors.shape[0]), successors.shape[1])
    T = sp.csr_array(
        (probs.ravel(), (rows, successors.ravel())), shape=(successors.shape[0], num_states)
    )
    T.sum_duplicates()
    T.eliminate_zeros()
    return T
