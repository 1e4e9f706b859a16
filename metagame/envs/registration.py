"""The environment registry: every game metagame can make, by name.

A name is either a family (``"mapf"``, ``"soccer"``) whose entry point is a class or factory
taking keyword arguments, or a prefix family (``"openspiel:"``, ``"gym:"``) whose factory takes
the rest of the name as its first argument (``"openspiel:goofspiel(num_cards=4)"``).

Entry points are ``"module:attribute"`` strings imported only when the game is made, so that
``make("mapf")`` never imports Ray, OpenSpiel or Gymnasium.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin


@dataclass(frozen=True)
class EnvSpec:
    """One registered family: its name, where its factory lives, and what it is."""

    name: str
    entry_point: str
    description: str
    prefix: bool = False

    def load(self) -> Callable[..., Any]:
        module_name, _, attr = self.entry_point.partition(":")
        return getattr(importlib.import_module(module_name), attr)


_SPECS: dict[str, EnvSpec] = {}


def register(name: str, entry_point: str, description: str, *, prefix: bool = False) -> None:
    """Registers a family. A prefix family's name ends with ``":"``."""
    if prefix != name.endswith(":"):
        raise ValueError(f"prefix family names end with ':' (got {name!r}, prefix={prefix})")
    _SPECS[name] = EnvSpec(name, entry_point, description, prefix)


def _builtin() -> None:
    families = [
        (
            "openspiel:",
            "metagame.envs.openspiel:make_openspiel_env",
            "any game pyspiel registers, e.g. openspiel:kuhn_poker or openspiel:goofspiel(num_cards=4)",  # noqa: E501
            True,
        ),
        (
            "gym:",
            "metagame.envs.single:make_gym_env",
            "any registered Gymnasium task as a one-player game, e.g. gym:CartPole-v1",
            True,
        ),
        (
            "matrix",
            "metagame.envs.markov.matrix:MatrixGameEnv",
            "two-player matrix game from the catalog (game=...) or user matrices (A, B), "
            "one-shot or repeated",
            False,
        ),
        (
            "soccer",
            "metagame.envs.markov.soccer:SoccerEnv",
            "Littman's 4x5 two-player zero-sum soccer (1994)",
            False,
        ),
        (
            "pursuit_evasion",
            "metagame.envs.markov.pursuit:PursuitEvasionEnv",
            "k pursuers and one evader on a networkx graph, simultaneous moves",
            False,
        ),
        (
            "tabular",
            "metagame.envs.markov.tabular:TabularMarkovGame",
            "any Markov game given as arrays R[s, a, b] and T[s, a, b, s']",
            False,
        ),
        (
            "mapf",
            "metagame.envs.mapf.env:MAPFEnv",
            "grid multi-agent path finding (one-shot or lifelong), Moving AI maps",
            False,
        ),
        (
            "traffic",
            "metagame.envs.traffic.env:TrafficEnv",
            "road-network Markov game with IDM/MOBIL drivers and signal controllers",
            False,
        ),
        (
            "preference",
            "metagame.envs.preference.matrix:PreferenceGameEnv",
            "symmetric two-player preference game over n candidates",
            False,
        ),
        (
            "trajectory_preference",
            "metagame.envs.preference.trajectory:TrajectoryPreferenceEnv",
            "two episodes of a one-player task judged by a preference function",
            False,
        ),
        (
            "llm_duel",
            "metagame.envs.preference.duel:LLMDuelEnv",
            "token-level LLM preference duel judged by a rule panel or a model",
            False,
        ),
    ]
    for name, entry, description, prefix in families:
        register(name, entry, description, prefix=prefix)


_builtin()


def _split(name: str) -> tuple[EnvSpec, str | None]:
    if not isinstance(name, str):
        raise ValueError(f"environment name must be a string, got {type(name).__name__}")
    if name in _SPECS and not _SPECS[name].prefix:
        return _SPECS[name], None
    head, sep, rest = name.partition(":")
    if sep and head + ":" in _SPECS:
        if not rest:
            raise ValueError(f"{name!r} names no game after the prefix {head + ':'!r}")
        return _SPECS[head + ":"], rest
    raise ValueError(_unknown_message(name))


def _unknown_message(name: str) -> str:
    candidates = list(registry())
    close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.5)
    hint = f"; closest: {', '.join(close)}" if close else ""
    families = ", ".join(sorted(_SPECS))
    return f"unknown environment {name!r}{hint} (families: {families})"


def registry(expand: bool = True) -> dict[str, str]:
    """Maps every makeable name to a one-line description.

    With ``expand=True`` the prefix families list their members (every pyspiel game and every
    Gymnasium id, where those libraries are importable); otherwise only the families.
    """
    out: dict[str, str] = {}
    for spec in _SPECS.values():
        if spec.prefix and expand:
            lister = importlib.import_module(spec.entry_point.split(":")[0]).list_games
            out.update(lister())
        else:
            out[spec.name] = spec.description
    return out


def _check_type(env: str, param: str, value: Any, annotation: Any) -> None:
    """Raises ValueError when ``value`` plainly does not fit a simple annotation."""
    if annotation is inspect.Parameter.empty or isinstance(annotation, str):
        return
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = get_args(annotation)
        errors = []
        for option in options:
            try:
                _check_type(env, param, value, option)
                return
            except ValueError as err:
                errors.append(err)
        raise errors[0]
    if origin is Literal:
        allowed = get_args(annotation)
        if value not in allowed:
            raise ValueError(
                f"{env}: parameter {param!r} must be one of {list(allowed)}, got {value!r}"
            )
        return
    if origin is list:
        _check_list(env, param, value, get_args(annotation))
        return
    if annotation is type(None):
        if value is not None:
            raise ValueError(f"{env}: parameter {param!r} must be None, got {value!r}")
        return
    if annotation in (int, float, bool, str):
        _check_simple(env, param, value, annotation)


def _check_list(env: str, param: str, value: Any, args: tuple[Any, ...]) -> None:
    """A ``list[X]`` parameter takes a list or tuple whose items fit ``X``."""
    if not isinstance(value, list | tuple):
        raise ValueError(
            f"{env}: parameter {param!r} must be a list, got {type(value).__name__} {value!r:.100}"
        )
    for i, item in enumerate(value if args else ()):
        _check_type(env, f"{param}[{i}]", item, args[0])


def _check_simple(env: str, param: str, value: Any, annotation: type) -> None:
    """int, float, bool and str hints; an integer must fit in 64 bits (what every env and
    kernel stores it in), a float must be finite (NaN or infinity is never a meaningful rate,
    weight, reward or duration)."""
    import numpy as np

    simple = {int: (int, np.integer), float: (int, float, np.integer, np.floating)}
    ok = isinstance(value, simple.get(annotation, annotation))
    if annotation in (int, float) and isinstance(value, bool | np.bool_):
        ok = False
    if not ok:
        raise ValueError(
            f"{env}: parameter {param!r} must be {annotation.__name__}, "
            f"got {type(value).__name__} {value!r:.100}"
        )
    if isinstance(value, int | np.integer) and not -(2**63) <= value < 2**63:
        raise ValueError(f"{env}: parameter {param!r} must fit in 64 bits, got {value!r:.40}")
    if annotation is float and not np.isfinite(float(value)):
        raise ValueError(f"{env}: parameter {param!r} must be a finite number, got {value!r}")


def _check_seed(env: str, value: Any) -> None:
    """Every family's ``seed`` is None or a non-negative integer (NumPy's seeding rule)."""
    import numpy as np

    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0
    ):
        raise ValueError(f"{env}: parameter 'seed' must be a non-negative integer, got {value!r}")


def check_kwargs(env: str, factory: Callable[..., Any], kwargs: dict[str, Any], skip: int = 0):
    """Checks keyword arguments against a factory's signature and simple type hints.

    Unknown names raise ``ValueError`` naming the parameter and the closest accepted ones;
    values that plainly contradict an ``int``/``float``/``bool``/``str``/``list[...]``/
    ``Literal`` hint, an ``int`` beyond 64 bits, a NaN or infinite ``float`` and a negative
    ``seed`` raise ``ValueError``
    naming the parameter. Deeper checks are the factory's own.
    """
    target = factory.__init__ if inspect.isclass(factory) else factory
    signature = inspect.signature(target)
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable forward references: fall back to no type checks
        hints = {}
    params = [
        p
        for p in list(signature.parameters.values())
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL,)
    ][skip:]
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params)
    names = [p.name for p in params if p.kind is not p.VAR_KEYWORD]
    for key, value in kwargs.items():
        if key not in names:
            if accepts_any:
                continue
            close = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(
                f"{env}: unknown parameter {key!r}{hint} (accepted: {', '.join(names) or 'none'})"
            )
        if key == "seed":
            _check_seed(env, value)
        _check_type(env, key, value, hints.get(key, inspect.Parameter.empty))


def make(name: str, **kwargs: Any):
    """Makes an environment by name; see ``registry()`` for the names.

    Returns a PettingZoo ``ParallelEnv`` (simultaneous moves) or ``AECEnv`` (turn-based).
    Raises ``ValueError`` for an unknown name (listing the closest registered ones), an
    unknown keyword argument, or a value of the wrong type.
    """
    from metagame._compile_notice import announce_compilation

    announce_compilation()  # a family's kernels compile on first use: say so when it is slow
    spec, rest = _split(name)
    factory = spec.load()
    if rest is None:
        check_kwargs(name, factory, kwargs)
        return factory(**kwargs)
    check_kwargs(name, factory, kwargs, skip=1)
    return factory(rest, **kwargs)
