"""The environment registry: every game metagame can make, by name.

A name is either a family (``"mapf"``, ``"soccer"``) whose entry point is a class or factory
taking keyword arguments, or a prefix family (``"openspiel:"``, ``"gym:"``) whose factory takes
the rest of the name as its first argument (``"openspiel:goofspiel(num_cards=4)"``).

Entry points are ``"module:attribute"`` strings imported only when the game is made, so that
``make("mapf")`` never imports Ray, OpenSpiel or Gymnasium.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import numpy as np


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


def _simple(kind: type) -> Callable[[Any], Any]:
    """The check behind an ``int``, ``float``, ``bool`` or ``str`` hint. An integer must fit in
    64 bits (what every env and kernel stores it in), a float must be finite (NaN or infinity is
    never a meaningful rate, weight, reward or duration); NumPy scalars count as numbers."""
    accepted = {int: (int, np.integer), float: (int, float, np.integer, np.floating)}.get(
        kind, kind
    )

    def check(value: Any) -> Any:
        numeric_bool = kind in (int, float) and isinstance(value, bool | np.bool_)
        if numeric_bool or not isinstance(value, accepted):
            raise ValueError(f"must be {kind.__name__}, got {type(value).__name__} {value!r:.100}")
        if isinstance(value, int | np.integer) and not -(2**63) <= value < 2**63:
            raise ValueError(f"must fit in 64 bits, got {value!r:.40}")
        if kind is float and not np.isfinite(float(value)):
            raise ValueError(f"must be a finite number, got {value!r}")
        return value

    return check


def _one_of(allowed: tuple[Any, ...]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(f"must be one of {list(allowed)}, got {value!r}")
        return value

    return check


def _is_none(value: Any) -> None:
    if value is not None:
        raise ValueError(f"must be None, got {value!r}")


def _list_or_tuple(value: Any) -> Any:
    if not isinstance(value, list | tuple):
        raise ValueError(f"must be a list, got {type(value).__name__} {value!r:.100}")
    return value


def _seed(value: Any) -> Any:
    """Every family's ``seed`` is None or a non-negative integer (NumPy's seeding rule)."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0
    ):
        raise ValueError(f"must be a non-negative integer, got {value!r}")
    return value


def _validated(annotation: Any) -> Any:
    """The pydantic type that checks a hint the way the registry does: ``int``, ``float``,
    ``bool``, ``str``, ``None``, ``Literal``, ``list[...]`` and unions of them, every failure a
    ``ValueError`` whose text follows the parameter's name. Any other hint accepts anything
    (deeper checks are the factory's own)."""
    from pydantic import BeforeValidator, PlainValidator

    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return Union[tuple(_validated(option) for option in get_args(annotation))]  # noqa: UP007
    if origin is list:
        item = _validated(get_args(annotation)[0]) if get_args(annotation) else Any
        return Annotated[list[item], BeforeValidator(_list_or_tuple)]
    if origin is Literal:
        check = _one_of(get_args(annotation))
    elif annotation is type(None):
        check = _is_none
    elif annotation in (int, float, bool, str):
        check = _simple(annotation)
    else:
        return Any
    return Annotated[Any, PlainValidator(check)]


@functools.cache
def _signature(target: Callable[..., Any], skip: int) -> tuple[list[str], bool, Any]:
    """A factory's keyword names, whether it takes ``**kwargs``, and a pydantic ``TypeAdapter``
    over a ``TypedDict`` of its hinted parameters."""
    from pydantic import BeforeValidator, TypeAdapter
    from typing_extensions import TypedDict  # pydantic wants it before Python 3.12

    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable forward references: fall back to no type checks
        hints = {}
    params = [
        p
        for p in inspect.signature(target).parameters.values()
        if p.name != "self" and p.kind is not p.VAR_POSITIONAL
    ][skip:]
    names = [p.name for p in params if p.kind is not p.VAR_KEYWORD]
    fields = {name: _validated(hints[name]) if name in hints else Any for name in names}
    if "seed" in fields:
        seed_type = fields["seed"]
        fields["seed"] = Annotated[seed_type, BeforeValidator(_seed)]
    typed = TypedDict("Arguments", fields, total=False)  # type: ignore[operator]
    return names, any(p.kind is p.VAR_KEYWORD for p in params), TypeAdapter(typed)


def check_kwargs(env: str, factory: Callable[..., Any], kwargs: dict[str, Any], skip: int = 0):
    """Checks keyword arguments against a factory's signature and simple type hints.

    Unknown names raise ``ValueError`` naming the parameter and the closest accepted ones;
    values that plainly contradict an ``int``/``float``/``bool``/``str``/``list[...]``/
    ``Literal`` hint, an ``int`` beyond 64 bits, a NaN or infinite ``float`` and a negative
    ``seed`` raise ``ValueError`` naming the parameter (pydantic validates the values against
    the hints). Deeper checks are the factory's own.
    """
    from pydantic import ValidationError

    target = factory.__init__ if inspect.isclass(factory) else factory
    names, accepts_any, adapter = _signature(target, skip)
    for key in kwargs:
        if key not in names and not accepts_any:
            close = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(
                f"{env}: unknown parameter {key!r}{hint} (accepted: {', '.join(names) or 'none'})"
            )
    try:
        adapter.validate_python({key: value for key, value in kwargs.items() if key in names})
    except ValidationError as err:
        raise ValueError(_first_error(env, err)) from None


def _first_error(env: str, err: Any) -> str:
    """The first failure as ``env: parameter 'name[i]' ...``: the location's first part is the
    parameter, its integers are list positions (the rest name union branches)."""
    first = err.errors()[0]
    where = first["loc"][0] + "".join(f"[{i}]" for i in first["loc"][1:] if isinstance(i, int))
    return f"{env}: parameter {where!r} {first['ctx']['error']}"


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
