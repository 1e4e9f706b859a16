"""The config reference: every key of a league config, its type, default and meaning, generated
from the pydantic schema in :mod:`metagame.league.config` (so it cannot drift from it).

``python -m metagame.league.reference`` prints it as Markdown; ``configs/REFERENCE.md`` is that
output, and the test suite checks the committed file is current.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from metagame.league.config import LeagueConfig

BOUNDS = {Ge: (">=", "ge"), Gt: (">", "gt"), Le: ("<=", "le"), Lt: ("<", "lt")}


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def type_name(annotation: Any) -> str:
    """``Literal['a', 'b']`` as ``'a' | 'b'``, ``int | None`` as is, classes by name."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(type_name(a) for a in typing.get_args(annotation))
        return f"{origin.__name__}[{args}]"
    return "None" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def default_of(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        return "" if isinstance(value, BaseModel) else repr(value)
    return "required" if field.default is PydanticUndefined else repr(field.default)


def meaning(field) -> str:
    bounds = [
        f"{BOUNDS[type(m)][0]} {getattr(m, BOUNDS[type(m)][1])}"
        for m in field.metadata
        if type(m) in BOUNDS
    ]
    parts = [field.description or ""] + ([f"({', '.join(bounds)})"] if bounds else [])
    return " ".join(p for p in parts if p)


def _variants(annotation: Any) -> list[type[BaseModel]]:
    """The models of a union of models (a discriminated section such as ``mode``)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if all(_is_model(a) for a in args):
            return list(args)
    return []


def sections(
    model: type[BaseModel], path: str = "", title: str | None = None
) -> list[tuple[str, str, list[tuple]]]:
    """``(path, docstring, rows)`` for ``model`` and, after it, each nested model."""
    rows, nested = [], []
    for name, field in model.model_fields.items():
        key = f"{path}{name}"
        if _is_model(field.annotation):
            nested += sections(field.annotation, f"{key}.")
            rows.append((key, "section", "", f"see `{key}` below"))
        elif variants := _variants(field.annotation):
            names = [v.model_fields["name"].default for v in variants]
            for variant, tag in zip(variants, names, strict=True):
                nested += sections(variant, f"{key}.", f"{key}` with `name: {tag}")
            rows.append((key, "section", repr(names[0]), f"one of {names}: see `{key}` below"))
        else:
            rows.append((key, type_name(field.annotation), default_of(field), meaning(field)))
    doc = " ".join((model.__doc__ or "").split())
    return [(title or path.rstrip(".") or "(top level)", doc, rows), *nested]


def config_reference() -> str:
    lines = [
        "# League config reference",
        "",
        "Generated from the schema (`python -m metagame.league.reference`); do not edit.",
        "Every key is optional unless its default says `required`; unknown keys are errors.",
    ]
    for path, doc, rows in sections(LeagueConfig):
        lines += ["", f"## `{path}`" if path != "(top level)" else "## top level", "", doc, ""]
        lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
        lines += [f"| `{k}` | {t} | {d} | {m} |" for k, t, d, m in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(config_reference(), end="")
