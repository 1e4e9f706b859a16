"""League configuration: a YAML file validated by a pydantic schema.

A config names a game (any ``metagame.envs.make`` name and its kwargs), the learner (an RLlib
algorithm and hyperparameters, built through ``metagame.agents.rllib_config``), a mode
(``selfplay``, ``psro`` or ``alphastar``), matchmaking, evaluation, budget, seed, checkpoint
frequency and the Ray cluster to run on. Every default is filled in and the resolved config is
saved in the run directory, so a run is reproducible from its directory alone.

Errors are ``ValueError`` naming the key path (``matchmaking.pfsp``) and the allowed values.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GameConfig(_Strict):
    """The game: a ``make`` name and its keyword arguments."""

    name: str = Field(description="a metagame.envs.make name, e.g. openspiel:kuhn_poker")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="make() keyword arguments")
    eval_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="make() keyword arguments that replace kwargs in evaluation matches (held-out "
        "prompts, maps): the meta-game is measured on them; the agents and spaces must not change "
        "(the llm_duel league requires held-out prompts here)",
    )
    roles: Literal["auto", "tied", "separate"] = Field(
        "auto",
        description="populations: tied (one plays every role, a symmetric meta-game), separate "
        "(one per role), auto (tied when the env declares no roles and every agent has the "
        "same spaces)",
    )
    crowds: list[str] = Field(
        default_factory=list,
        description="crowd roles: each agent of the role draws a population member of its own "
        "in every match (one member per agent, not one per role), e.g. [vehicle] for "
        "heterogeneous traffic; each a role of several agents with a population of its own",
    )


FIXED_POLICIES = ("random", "driver:mild", "driver:chaotic", "driver:sumo")


class FixedPlayerConfig(_Strict):
    """A fixed member of a population: a rule-based policy that never trains but is drawn as
    an opponent (or crowd-mate), evaluated and rated like every other player."""

    population: str = Field(
        description="the population it joins: a role's name, or `player` for tied roles"
    )
    policy: Literal["random", "driver:mild", "driver:chaotic", "driver:sumo"] = Field(
        description="random: uniform over legal actions (games with action masks); "
        "driver:<mix>: a traffic vehicle driven by IDM with the mean parameters and noise of "
        "the env's mild, chaotic or sumo traffic (metagame.agents.rllib.drivers)"
    )


RLLIB_ALGOS = ("PPO", "APPO", "IMPALA", "MMD", "MAPPO")
SEQUENCE_ALGOS = ("SPO", "Nash-MD", "INPO")


class LearnerConfig(_Strict):
    """The algorithm and hyperparameters every trainee uses."""

    algo: Literal["PPO", "APPO", "IMPALA", "MMD", "MAPPO", "SPO", "Nash-MD", "INPO"] = Field(
        "PPO",
        description="an RLlib algorithm (MMD: PPO with a KL pull toward a periodically "
        "refreshed magnet, metagame.agents.rllib.magnet; MAPPO: PPO whose critic also sees "
        "the env's global state, for simultaneous-move games with a state(), e.g. a mapf "
        "team, metagame.agents.rllib.mappo), or a sequence-level preference learner of a "
        "causal LM in llm_duel (SPO, Nash-MD, INPO: metagame.agents.lm.sequence_learner, "
        "trained without Ray)",
    )
    hparams: dict[str, Any] = Field(
        default_factory=dict,
        description="AlgorithmConfig.training() keywords (lr, ...); for a sequence-level "
        "learner its keywords (group, prompts_per_step, lr, beta, mixture, eta, max_grad_norm) "
        "and updates_per_iteration",
    )
    model: dict[str, Any] = Field(
        default_factory=dict,
        description="RLModule model_config (fcnet_hiddens, ...); for a sequence-level learner "
        "only lora ({r: 8, ...})",
    )


class SelfPlayConfig(_Strict):
    """One trainee per population against the population's snapshots (PFSP) and, a fraction
    of the games, against the live trainees."""

    name: Literal["selfplay"] = Field("selfplay", description="the mode")
    snapshot_every: int = Field(2, ge=1, description="iterations between snapshots")
    self_fraction: float = Field(
        0.2, ge=0.0, le=1.0, description="fraction of games against the live trainees"
    )


class PSROConfig(_Strict):
    """Each PSRO iteration trains a best response to the meta-strategy (Lanctot et al. 2017)."""

    name: Literal["psro"] = Field("psro", description="the mode")
    meta_solver: Literal["nash", "alpharank", "uniform", "prd", "ce", "cce", "rectified"] = Field(
        "nash", description="the meta-strategy responses are trained against"
    )
    iterations_per_response: int = Field(
        2, ge=1, description="RLlib iterations per response (the most, with response_patience)"
    )
    response_patience: int | None = Field(
        None,
        ge=1,
        description="stop a response early once its score against the meta-strategy (share of "
        "points won per iteration) has not risen by response_min_gain for this many iterations; "
        "null: every response trains iterations_per_response",
    )
    response_min_gain: float = Field(
        0.01, ge=0.0, le=1.0, description="the least rise in score that counts as improving"
    )
    oracle: Literal["rl", "exact"] = Field(
        "rl",
        description="rl: responses trained by the learners; exact: OpenSpiel's exact best "
        "response to the meta-strategy, one per iteration (small turn-based OpenSpiel games "
        "whose observations tell information states apart, roles tied)",
    )
    reset_response: bool = Field(False, description="start each response from scratch")


class XDOConfig(PSROConfig):
    """Extensive-form double oracle (McAleer et al. 2021): PSRO's responses, each trained
    against the equilibrium of the restricted game (the game cut down to the actions the
    players propose), which is also the league's answer (evaluation.answer_iterations CFR+
    iterations per solve)."""

    name: Literal["xdo"] = Field("xdo", description="the mode")
    meta_solver: Literal["nash", "alpharank", "uniform", "prd", "ce", "cce"] = Field(
        "nash", description="solves the empirical game for the ratings"
    )
    oracle: Literal["rl"] = Field("rl", description="responses trained by the learners")


class AlphaStarConfig(_Strict):
    """Main agents, main exploiters and league exploiters (Vinyals et al. 2019)."""

    name: Literal["alphastar"] = Field("alphastar", description="the mode")
    main_agents: int = Field(1, ge=1, description="trainees that play the whole league")
    main_exploiters: int = Field(1, ge=0, description="trainees that play the main agents")
    league_exploiters: int = Field(1, ge=0, description="trainees that play the whole league")
    main_selfplay: float = Field(0.35, ge=0.0, le=1.0, description="main agents' self-play share")
    main_pfsp: float = Field(0.5, ge=0.0, le=1.0, description="main agents' PFSP share")
    snapshot_win_rate: float = Field(
        0.7, gt=0.0, le=1.0, description="an exploiter's win rate that triggers its snapshot"
    )
    snapshot_timeout_steps: int = Field(
        20_000, ge=1, description="env steps after which a trainee is snapshot anyway"
    )
    min_games: int = Field(20, ge=1, description="games before a win rate counts")
    exploiter_reset_probability: float = Field(
        0.25, ge=0.0, le=1.0, description="chance an exploiter restarts after a snapshot"
    )

    @model_validator(mode="after")
    def _fractions(self) -> AlphaStarConfig:
        if self.main_selfplay + self.main_pfsp > 1.0:
            raise ValueError("main_selfplay + main_pfsp must be at most 1")
        return self


ModeConfig = Annotated[
    SelfPlayConfig | PSROConfig | XDOConfig | AlphaStarConfig, Field(discriminator="name")
]
MODE_CONFIGS: dict[str, type[_Strict]] = {
    c.model_fields["name"].default: c
    for c in (SelfPlayConfig, PSROConfig, XDOConfig, AlphaStarConfig)
}


class MatchmakingConfig(_Strict):
    """Prioritized fictitious self-play weighting over opponents (Vinyals et al. 2019)."""

    pfsp: Literal["hard", "variance", "linear", "linear_capped", "uniform"] = Field(
        "hard", description="how opponents are weighted by the learner's win rate against them"
    )
    exponent: float = Field(2.0, gt=0.0, description="p in the hard weighting (1 - x)^p")
    slots: int = Field(3, ge=1, description="frozen opponent slots whose weights are swapped")


class EvaluationConfig(_Strict):
    """Evaluation matches that fill the payoff table."""

    episodes_per_pair: int = Field(40, ge=2, description="evaluation games per pair of players")
    payoffs: Literal["auto", "exact", "sampled"] = Field(
        "auto",
        description="what the empirical game's entries are: exact expected returns, walked on "
        "the game tree (sequential OpenSpiel games of at most 100,000 histories), or the mean "
        "of the evaluation matches; auto: exact where the game allows. Matches are played "
        "either way (ratings, replays)",
    )
    replay_fraction: float = Field(0.05, ge=0.0, le=1.0, description="matches recorded")
    exploitability: bool = Field(
        True, description="compute the exact exploitability where the game allows"
    )
    meta_solver: Literal["auto", "nash", "alpharank", "uniform", "prd", "ce", "cce"] = Field(
        "auto",
        description="solves the empirical game (self-play, AlphaStar); auto: nash where exact "
        "(one seat; two seats zero-sum or asymmetric), else projected replicator dynamics",
    )
    answer: Literal["meta_strategy", "restricted_game"] = Field(
        "meta_strategy",
        description="the league's answer, whose exploitability it records: the meta-strategy's "
        "mixture of players, or the equilibrium of XDO's restricted game, the game cut down to "
        "the actions the players propose, by CFR+ (two-player zero-sum OpenSpiel games whose "
        "seats share one population and whose tree can be walked; "
        "metagame.agents.restricted_game)",
    )
    answer_iterations: int = Field(
        1000, ge=1, description="CFR+ iterations per solve of the restricted game"
    )


class BudgetConfig(_Strict):
    """The run stops at the first budget reached; None means unbounded."""

    steps: int | None = Field(None, ge=1, description="env steps")
    wall_time_s: float | None = Field(None, gt=0, description="seconds since start or resume")
    iterations: int | None = Field(20, ge=1, description="league iterations")

    @model_validator(mode="after")
    def _bounded(self) -> BudgetConfig:
        if self.steps is None and self.wall_time_s is None and self.iterations is None:
            raise ValueError("set at least one of steps, wall_time_s, iterations")
        return self

    def spent(self, iteration: int, steps: int, wall: float) -> tuple[str, str] | None:
        """None while the budget lasts, else (status, reason): ``finished`` when the iteration
        or step budget is reached, ``out of time`` when the wall-time budget ran out first."""
        if self.iterations is not None and iteration >= self.iterations:
            return "finished", f"reached its budget of {self.iterations} iterations"
        if self.steps is not None and steps >= self.steps:
            return "finished", f"reached its budget of {self.steps} env steps"
        if self.wall_time_s is not None and wall >= self.wall_time_s:
            goal = f" of {self.iterations}" if self.iterations is not None else ""
            return "out of time", (
                f"stopped by its wall-time budget ({self.wall_time_s:g} s) after iteration "
                f"{iteration}{goal}"
            )
        return None


class RayConfig(_Strict):
    """Where to run: local Ray by default, or an existing cluster's address."""

    address: str | None = Field(None, description="a Ray cluster to join; local when None")
    num_env_runners: int = Field(1, ge=0, description="remote EnvRunners (0: sample locally)")
    num_envs_per_env_runner: int = Field(1, ge=1, description="games each EnvRunner steps")
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_SPREAD"] = Field(
        "PACK", description="Ray placement of the EnvRunners"
    )
    env_runner: Literal["auto", "rllib", "vector"] = Field(
        "auto",
        description="vector: metagame's VectorEnvRunner (many OpenSpiel games at once, one "
        "forward pass per module per round; turn-based OpenSpiel games only); rllib: RLlib's "
        "MultiAgentEnvRunner; auto: vector where it serves",
    )
    torch_threads: int = Field(
        1, ge=1, description="torch threads of the league process (local sampling, learning)"
    )


class LeagueConfig(_Strict):
    """A whole league run."""

    name: str = Field("league", description="the run's name (default run dir: runs/<name>)")
    game: GameConfig
    learners: LearnerConfig = Field(default_factory=LearnerConfig)
    mode: ModeConfig = Field(
        default_factory=SelfPlayConfig,
        description="how the population grows: a mapping with `name` (selfplay, psro or "
        "alphastar) and that mode's settings only, or just the name",
    )
    matchmaking: MatchmakingConfig = Field(default_factory=MatchmakingConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    seed: int = Field(0, description="seeds everything: same config and seed, same run")
    checkpoint_every: int = Field(1, ge=1, description="iterations between checkpoints")
    max_players: int = Field(64, ge=2, description="population cap (oldest snapshots retire)")
    fixed_players: list[FixedPlayerConfig] = Field(
        default_factory=list,
        description="rule-based members the populations start with and keep (never retired), "
        "e.g. the mild and chaotic drivers an ego vehicle trains against",
    )
    ray: RayConfig = Field(default_factory=RayConfig)

    @model_validator(mode="before")
    @classmethod
    def _mode_by_name(cls, data: Any) -> Any:
        """``mode: psro`` is short for ``mode: {name: psro}``."""
        if isinstance(data, dict) and isinstance(data.get("mode"), str):
            return {**data, "mode": {"name": data["mode"]}}
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    def with_overrides(self, **changes: Any) -> LeagueConfig:
        """A copy with top-level or dotted-path changes, e.g. ``{"ray.address": "auto"}``."""
        data = self.model_dump(mode="json")
        for path, value in changes.items():
            node = data
            *parents, leaf = path.split(".")
            for key in parents:
                node = node[key]
            node[leaf] = value
        return validate(data)


def _loc(error: dict) -> tuple:
    """An error's key path as the file spells it (without pydantic's union tag)."""
    loc = tuple(error["loc"])
    if len(loc) > 1 and loc[0] == "mode" and loc[1] in MODE_CONFIGS:
        loc = loc[:1] + loc[2:]
    return loc


def _format_error(err: ValidationError) -> str:
    first = err.errors()[0]
    path = ".".join(str(p) for p in _loc(first)) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "union_tag_invalid":
        message = f"name must be one of {list(MODE_CONFIGS)}, got {first['ctx']['tag']!r}"
    elif first["type"] == "union_tag_not_found":
        message = f"needs a name, one of {list(MODE_CONFIGS)}"
    elif first["type"] == "literal_error":
        expected = first.get("ctx", {}).get("expected", "")
        message = f"must be one of {expected}, got {first['input']!r}"
    elif first["type"] == "extra_forbidden":
        allowed = _model_at(tuple(first["loc"])[:-1]).model_fields
        message = f"unknown key; allowed: {', '.join(allowed)}"
    elif first["type"] == "missing":
        message = "is required"
    more = f" (and {len(err.errors()) - 1} more errors)" if len(err.errors()) > 1 else ""
    return f"config key {path}: {message}{more}"


def _model_at(path: tuple) -> type[BaseModel]:
    """The model at a validation error's key path (a mode section's path names its mode)."""
    model: type[BaseModel] = LeagueConfig
    for key in path:
        if str(key) in MODE_CONFIGS:
            model = MODE_CONFIGS[str(key)]
            continue
        annotation = model.model_fields[str(key)].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return model


def _validate(data: Any) -> LeagueConfig:
    if not isinstance(data, dict):
        raise ValueError(f"a league config is a mapping of keys, got {type(data).__name__}")
    return LeagueConfig.model_validate(data)


def validate(data: Any) -> LeagueConfig:
    """A LeagueConfig from a mapping, or ValueError naming the key path and allowed values."""
    try:
        return _validate(data)
    except ValidationError as err:
        raise ValueError(_format_error(err)) from None


def _line(text: str, loc: tuple) -> int | None:
    """The 1-based line of the YAML node at key path ``loc`` (its deepest existing key)."""
    node = yaml.compose(text)
    line = None
    for key in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        match = [(k, v) for k, v in node.value if getattr(k, "value", None) == str(key)]
        if not match:
            break
        line = match[0][0].start_mark.line + 1
        node = match[0][1]
    return line


def locate(path: str | Path, message: str) -> str:
    """``message`` (a ``config key KEY: ...`` error) prefixed with the file and KEY's line."""
    match = re.match(r"config key ([\w.]+):", message)
    try:
        line = _line(Path(path).read_text(), tuple(match.group(1).split("."))) if match else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        line = None
    where = f", line {line}" if line is not None else ""
    return f"config file {path}{where}: {message}"


def load(path: str | Path) -> LeagueConfig:
    """Reads and validates a YAML config file; errors name the file (and line) or key path."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ValueError(f"config file {path}, line {line}: not UTF-8 text") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ValueError(f"config file {path}, line {line}: not text (a NUL byte)") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ValueError(f"config file {path}{where}: not valid YAML: {problem}") from None
    try:
        return _validate(data)
    except ValidationError as err:
        line = _line(text, _loc(err.errors()[0]))
        where = f", line {line}" if line is not None else ""
        raise ValueError(f"config file {path}{where}: {_format_error(err)}") from None
    except ValueError as err:
        raise ValueError(f"config file {path}: {err}") from None


def save(config: LeagueConfig, path: str | Path) -> Path:
    """Writes the resolved config (every default filled in)."""
    path = Path(path)
    path.write_text(config.to_yaml())
    return path
