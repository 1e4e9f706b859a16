"""A league's game: its agents, their roles, and the populations that play the roles.

A *role* is a set of agents that play one population member together in a match: the seats of
Kuhn poker are one role each, the pursuers of pursuit-evasion are one role (a team) and the
evader another, a MAPF instance's agents are one team role, traffic has vehicles and signals.
An env declares its roles with an ``agent_roles`` attribute (agent -> role); without one, every
agent is its own role (the seats of an OpenSpiel game).

A *population* is a set of players that serves one or more roles. Roles are *tied* into one
population when they are the seats of a symmetric game (one population playing every seat, the
meta-game symmetric); otherwise each role has its own population, as in OpenSpiel's psro_v2
with ``symmetric_game=False`` (Lanctot et al. 2017). By default the league ties the roles when
the env declares none and every agent has the same observation and action spaces; the config's
``game.roles`` chooses ``tied`` or ``separate`` explicitly.

The meta-game has one seat per role, played by a member of that role's population, and each
seat's payoff is the mean return of the role's agents.

A role can be a *crowd* (the config's ``game.crowds``): its agents do not play one member
together but each draws a member of its own, as the vehicles of heterogeneous traffic do
(iPLAN, Wu et al. 2023). A match is then played by *parties*: a role's agents form one party,
and each agent of a crowd is a party of its own; every party draws one member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GameSpec:
    """The game a league plays: env name and arguments, agents, roles and populations."""

    name: str
    kwargs: dict[str, Any]
    agents: tuple[str, ...]
    roles: dict[str, tuple[str, ...]]  # role -> its agents, in env order
    populations: dict[str, tuple[str, ...]]  # population -> the roles it plays
    spaces: tuple[tuple[str, str], ...] = ()  # per agent: its observation and action spaces
    crowds: tuple[str, ...] = ()  # roles whose agents each play a member of their own

    @property
    def seat_roles(self) -> tuple[str, ...]:
        """The meta-game's seats (one per role), named by the population playing each."""
        return tuple(self.population_of(role) for role in self.roles)

    @property
    def symmetric(self) -> bool:
        """Several roles tied into one population: the meta-game is symmetric."""
        return len(self.roles) > 1 and len(self.populations) == 1

    @property
    def single_agent(self) -> bool:
        return len(self.agents) == 1

    @property
    def competitive(self) -> bool:
        """More than one role: there are opponents to draw."""
        return len(self.roles) > 1

    @property
    def parties(self) -> dict[str, str]:
        """A match's parties (each plays one member) -> the role they belong to: a role, or
        for a crowd each of its agents (named by the agent), in env order."""
        out: dict[str, str] = {}
        for role, agents in self.roles.items():
            out |= dict.fromkeys(agents, role) if role in self.crowds else {role: role}
        return out

    @property
    def multi_party(self) -> bool:
        """More than one party: an episode draws members for parties besides the learner's
        (opponents, or crowd-mates)."""
        return len(self.parties) > 1

    def party_of(self, agent: str) -> str:
        role = self.role_of(agent)
        return agent if role in self.crowds else role

    def population_of(self, role: str) -> str:
        return next(p for p, roles in self.populations.items() if role in roles)

    def role_of(self, agent: str) -> str:
        return next(r for r, agents in self.roles.items() if agent in agents)

    def representative(self, population: str) -> str:
        """An agent whose spaces every member of ``population`` has."""
        return self.roles[self.populations[population][0]][0]


def game_spec(
    name: str, kwargs: dict[str, Any], roles: str = "auto", crowds: Sequence[str] = ()
) -> GameSpec:
    """Builds the spec by making the env once. ``roles``: ``auto``, ``tied`` or ``separate``;
    ``crowds``: roles whose agents each draw a member (each a role of several agents with a
    population of its own)."""
    from metagame.envs import make

    env = make(name, **kwargs)
    try:
        agents = tuple(env.possible_agents)
        declared = getattr(env.unwrapped, "agent_roles", None)
        spaces = {a: (repr(env.observation_space(a)), repr(env.action_space(a))) for a in agents}
    finally:
        env.close()
    by_role: dict[str, list[str]] = {}
    for agent in agents:
        by_role.setdefault(declared[agent] if declared else agent, []).append(agent)
    role_spaces = {r: {spaces[a] for a in members} for r, members in by_role.items()}
    for role, found in role_spaces.items():
        if len(found) > 1:
            raise ValueError(f"{name}: the agents of role {role!r} have different spaces")
    same = len({next(iter(s)) for s in role_spaces.values()}) == 1
    if roles == "tied" and not same:
        raise ValueError(
            f"config key game.roles: {name}'s roles {sorted(by_role)} have different "
            "observation or action spaces, so one population cannot play them all (use separate)"
        )
    tie = roles == "tied" or (roles == "auto" and declared is None and same)
    if tie:
        populations = {"player": tuple(by_role)}
    else:
        populations = {role: (role,) for role in by_role}
    _check_crowds(name, crowds, by_role, populations)
    return GameSpec(
        name=name,
        kwargs=dict(kwargs),
        agents=agents,
        roles={r: tuple(a) for r, a in by_role.items()},
        populations=populations,
        spaces=tuple(spaces[a] for a in agents),
        crowds=tuple(dict.fromkeys(crowds)),
    )


def _check_crowds(
    name: str,
    crowds: Sequence[str],
    by_role: dict[str, list[str]],
    populations: dict[str, tuple[str, ...]],
) -> None:
    """Refuses a crowd that is no role, has one agent, or shares its population (tied roles:
    their evaluation seats one member per role, which a crowd would break)."""
    for crowd in crowds:
        if crowd not in by_role:
            raise ValueError(
                f"config key game.crowds: {crowd!r} is not a role of {name}; its roles are "
                f"{list(by_role)}"
            )
        if len(by_role[crowd]) < 2:
            raise ValueError(
                f"config key game.crowds: role {crowd!r} of {name} has one agent; a crowd "
                "needs several"
            )
        tied = next(roles for roles in populations.values() if crowd in roles)
        if len(tied) > 1:
            raise ValueError(
                f"config key game.crowds: role {crowd!r} shares its population with roles "
                f"{[r for r in tied if r != crowd]}; a crowd needs a population of its own "
                "(set game.roles: separate)"
            )
