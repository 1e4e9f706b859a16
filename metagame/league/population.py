"""The population: frozen players as policy checkpoints, and mixtures over them.

A player is a snapshot of a learner saved with :func:`metagame.agents.policy.save_policy` under
``RUN_DIR/players/<id>`` and recorded in the store (role, parent, step, reason). The population
loads players as policies (for evaluation through ``metagame.agents.arena``) or as weights (to
swap into an RLlib opponent slot), and writes the league's answer, a mixture over players, as a
:class:`MixturePolicy` checkpoint: a mixed strategy over policies, one member drawn per episode.
A *fixed* player (kind ``fixed``, :func:`fixed_spec`) is a rule-based member saved the same way:
it never trains, holds an RLlib module of its own rather than a slot, and is never retired.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metagame.league.run_dir import PLAYERS_DIR
from metagame.league.store import Player, Store

MIXTURE_FILE = "mixture.json"


class CheckpointError(ValueError):
    """A player's checkpoint is missing or corrupt; the message names the player and file."""


def load_player(run_dir: str | Path, player: Player, greedy: bool = False, seed: int = 0):
    """The player's policy; a missing or corrupt checkpoint, or one outside the run directory,
    raises CheckpointError."""
    from metagame.agents.policy import load_policy

    root = Path(run_dir).resolve()
    path = (root / player.checkpoint).resolve()
    if not path.is_relative_to(root):
        raise CheckpointError(
            f"player {player.id}: its checkpoint {player.checkpoint!r} lies outside the run "
            f"directory {run_dir}"
        )
    try:
        policy = load_policy(path, greedy=greedy, seed=seed)
    except ValueError as err:
        raise CheckpointError(f"player {player.id}: {err}") from None
    except Exception as err:  # torch/pickle-level corruption of the weights file
        raise CheckpointError(
            f"player {player.id}: checkpoint {path} is corrupt: {type(err).__name__}: {err}"
        ) from None
    policy.id = player.id
    return policy


def player_weights(run_dir: str | Path, player: Player) -> dict[str, np.ndarray]:
    """The player's module weights as NumPy arrays (what an RLlib module's set_state takes)."""
    module = load_player(run_dir, player).module
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def save_player(
    store: Store,
    module: Any,
    *,
    prefix: str,
    kind: str,
    population: str,
    parent: str | None,
    step: int,
    iteration: int,
    reason: str,
) -> Player:
    """Saves a learner's module as a new player: checkpoint first, then the store row."""
    from metagame.agents.policy import save_policy

    relative = f"{PLAYERS_DIR}/{store.next_player_id(prefix)}"
    save_policy(module, store.run_dir / relative)
    return store.add_player(
        prefix,
        kind=kind,
        population=population,
        parent=parent,
        step=step,
        iteration=iteration,
        checkpoint=relative,
        reason=reason,
    )


def fixed_spec(spec: Any, population: str, policy: str):
    """The RLModule spec of a fixed player in ``population`` of the game ``spec`` (a
    ``GameSpec``): ``random`` (uniform over legal actions) or ``driver:<mix>``
    (:mod:`metagame.agents.rllib.drivers`). Fixed players never train; each keeps an RLlib
    module of its own and is saved as a player of kind ``fixed``."""
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from metagame.agents.rllib import module_spec
    from metagame.agents.rllib.modules import RAW_SPACE_KEY, MaskedRandomRLModule

    agent = spec.representative(population)
    if policy.startswith("driver:"):
        from metagame.agents.rllib.drivers import driver_spec

        if spec.name != "traffic":
            raise ValueError(f"{policy} drives traffic vehicles; the game is {spec.name}")
        return driver_spec(policy.removeprefix("driver:"), spec.kwargs, agent)
    learned = module_spec(spec.name, spec.kwargs, agent=agent)
    if learned.module_class is None:  # no action mask: the masked random player cannot serve
        raise ValueError(f"random needs a game with action masks; {spec.name} has none")
    return RLModuleSpec(
        module_class=MaskedRandomRLModule,
        observation_space=learned.observation_space,
        action_space=learned.action_space,
        model_config={RAW_SPACE_KEY: learned.model_config[RAW_SPACE_KEY]},
    )


class MixturePolicy:
    """A mixed strategy over policies: at each ``reset(seed)`` one member is drawn to play the
    episode (``metagame.agents.arena`` reseeds policies at every episode)."""

    def __init__(
        self, members: Sequence[Any], probs: Sequence[float], seed: int = 0, id: str = "mixture"
    ):
        probs = np.asarray(probs, dtype=np.float64)
        if len(members) != len(probs) or len(members) == 0:
            raise ValueError(f"got {len(members)} members for {len(probs)} probabilities")
        if np.any(probs < 0) or not np.isclose(probs.sum(), 1.0, atol=1e-6):
            raise ValueError(f"mixture probabilities must be a distribution, got {probs}")
        self.members = list(members)
        self.probs = probs / probs.sum()
        self.id = id
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        rng = np.random.default_rng(seed)
        self.current = self.members[int(rng.choice(len(self.members), p=self.probs))]
        reset = getattr(self.current, "reset", None)
        if callable(reset):
            reset(int(rng.integers(2**31)))

    def act(self, observation: Any, action_mask: np.ndarray | None = None) -> Any:
        return self.current.act(observation, action_mask)

    def act_batch(self, observations: Sequence[Any], action_masks=None) -> np.ndarray:
        return self.current.act_batch(observations, action_masks)


def save_mixture(
    path: str | Path,
    run_dir: str | Path,
    players: Sequence[Player],
    probs: Sequence[float],
    solver: str,
) -> Path:
    """Writes a mixture checkpoint: ``mixture.json`` naming each member's checkpoint."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    run_dir = Path(run_dir).resolve()
    members = [
        {"player": p.id, "checkpoint": str(run_dir / p.checkpoint), "probability": float(q)}
        for p, q in zip(players, probs, strict=True)
        if q > 0
    ]
    (path / MIXTURE_FILE).write_text(json.dumps({"solver": solver, "members": members}, indent=1))
    return path


def load_mixture(path: str | Path, greedy: bool = False, seed: int = 0) -> MixturePolicy:
    """Loads a mixture written by ``league solve``; errors name the file or the member."""
    from metagame.agents.policy import load_policy

    file = Path(path) / MIXTURE_FILE
    if not file.is_file():
        raise ValueError(f"mixture checkpoint not found: {file}")
    try:
        data = json.loads(file.read_text())
        members = data["members"]
        ids = [m["player"] for m in members]
        paths = [m["checkpoint"] for m in members]
        probs = [m["probability"] for m in members]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"mixture checkpoint {file} is corrupt: {err}") from None
    policies = []
    for pid, member in zip(ids, paths):
        try:
            policies.append(load_policy(member, greedy=greedy, seed=seed))
        except ValueError as err:
            raise ValueError(f"mixture member {pid}: {err}") from None
    total = sum(probs)
    return MixturePolicy(policies, [p / total for p in probs], seed, id=f"mixture:{data['solver']}")


SOLVERS = ("nash", "minimax-winner", "alpharank", "prd", "ce", "cce", "uniform")


@dataclass(frozen=True)
class LeagueAnswer:
    """The league's answer: one mixture over each population's active players (the roles a
    population plays share its mixture), the joint distribution for CE/CCE, and the NashConv
    of the answer on the empirical game."""

    solver: str
    roles: dict[str, str]  # role -> the population playing it
    players: dict[str, list[Player]]  # population -> its active players
    probs: dict[str, np.ndarray]  # population -> mixture over its players
    joint: np.ndarray | None
    nash_conv: float


def solve_population(store: Store, solver: str = "nash") -> LeagueAnswer:
    """Solves the empirical game of the store's active players with ``solver``.

    ``nash``, ``prd``, ``alpharank``, ``ce``, ``cce``, ``uniform``: see
    :func:`metagame.league.empirical_game.solve_meta_game` (``nash`` falls back to ``prd``
    where no exact solver serves the game); ``minimax-winner``: for two tied roles, the von
    Neumann winner of the preference matrix P[i, j] = Pr(i beats j), estimated by
    :func:`preference_matrix`. A one-role population puts all mass on the best mean return.
    Reads inside one transaction, so it is consistent while the league runs.
    """
    from metagame.league.empirical_game import default_solver, empirical_game, solve_meta_game
    from metagame.league.evaluation import game_entries

    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {list(SOLVERS)}, got {solver!r}")
    with store.transaction():
        players = store.players(active_only=True)
        matches = store.matches()
        entries = game_entries(store, matches)
        game_name = (store.get_meta("config") or {}).get("game", {}).get("name")
    if not players:
        raise ValueError(f"the league in {store.run_dir} has no players yet")
    roles = store.get_meta("roles")  # role -> population, written when the league starts
    if not roles:
        raise ValueError(f"the store in {store.run_dir} does not say the game's roles")
    members = {pop: [p.id for p in players if p.population == pop] for pop in roles.values()}
    symmetric = len(roles) > 1 and len(set(roles.values())) == 1
    game = empirical_game(entries, list(roles.values()), members, symmetric=symmetric)
    if solver == "minimax-winner":
        if not (symmetric and len(roles) == 2):
            raise ValueError("minimax-winner serves leagues of two tied roles")
        (pop,) = members
        probs, certificate, joint, name = (
            {pop: _minimax_winner(preference_matrix(matches, members[pop], game_name))},
            0.0,
            None,
            solver,
        )
    else:
        if solver == "nash":
            solver = default_solver(game)
        solution = solve_meta_game(game, solver)
        probs, certificate, joint = solution.strategies, solution.nash_conv, solution.joint
        name = solution.solver
    by_pop = {pop: [p for p in players if p.population == pop] for pop in members}
    return LeagueAnswer(name, roles, by_pop, probs, joint, certificate)


def preference_matrix(
    matches: Sequence[Any], ids: Sequence[str], game: str | None = None
) -> np.ndarray:
    """P[i, j] = Pr(player i beats player j) over the two-player matches among ``ids`` (both
    seatings pooled; 1/2 on the diagonal and for pairs that never met), so P + P^T = 1.

    In a preference game (``ratings.PREFERENCE_GAMES``) a match scores (1 + r)/2 for its returns r =
    (2P - 1, 1 - 2P): the judge's probability P itself when the judge is soft (an LM judge), not
    whether it exceeds 1/2, so P[i, j] is the mean preference probability (Swamy et al., 2024,
    "A minimaximalist approach to RLHF", define the game on these probabilities). In any other
    game a match is a win, a draw (1/2) or a loss by its returns.
    """
    from metagame.league.ratings import match_scores

    score = match_scores(game)
    index = {pid: i for i, pid in enumerate(ids)}
    wins = np.zeros((len(ids), len(ids)))
    counts = np.zeros_like(wins)
    for m in matches:
        if len(m.players) == 2 and all(p in index for p in m.players):
            i, j = index[m.players[0]], index[m.players[1]]
            a, b = score(m.returns)
            wins[i, j] += a
            wins[j, i] += b
            counts[i, j] += 1
            counts[j, i] += 1
    P = np.divide(wins, counts, out=np.full_like(wins, 0.5), where=counts > 0)
    np.fill_diagonal(P, 0.5)
    return P


def _minimax_winner(P: np.ndarray) -> np.ndarray:
    from metagame.solvers import minimax_winner

    probs = np.clip(np.asarray(minimax_winner(P).row, dtype=np.float64), 0.0, None)
    return probs / probs.sum()
