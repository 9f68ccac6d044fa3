"""docs/configuration.md, generated from the schema (types, defaults, ranges, descriptions) and cxops.settings.

`cxops config reference` writes it; `--check` (run in the tests) fails with a diff when the schema changed and the
page was not regenerated. Every field must carry a description (a test enforces it), so the page is complete.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any, Literal

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from cxops import generated
from cxops.config.schema import Config
from cxops.settings import variables

COMMAND = "cxops config reference"
DOC = Path("docs") / "configuration.md"


def _models(annotation: Any) -> list[type[BaseModel]]:
    """Pydantic models inside an annotation (`Cloud`, `list[Node]`, `Flavors | None`)."""
    found = [annotation] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []
    for arg in typing.get_args(annotation):
        found += _models(arg)
    return found


def type_name(annotation: Any) -> str:
    """A reader's name for a type: `int`, `list of string`, `one of: local, openstack-instance`, `string or null`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return "one of: " + ", ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin in (list, tuple):
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"map of {type_name(args[0])} → {type_name(args[1])}"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(annotation, str(annotation))


def constraints(info: FieldInfo) -> str:
    """Range and length limits of a field, e.g. `≥ 1, ≤ 1024`."""
    out = []
    metadata = list(info.metadata)
    for arg in typing.get_args(info.annotation):  # limits inside Annotated[...] aliases (Fraction, Port)
        if hasattr(arg, "metadata"):
            metadata += list(arg.metadata)
    for m in metadata:
        for cls, sign, attr in (
            (at.Ge, "≥", "ge"),
            (at.Gt, ">", "gt"),
            (at.Le, "≤", "le"),
            (at.Lt, "<", "lt"),
            (at.MinLen, "min length", "min_length"),
            (at.MaxLen, "max length", "max_length"),
        ):
            if isinstance(m, cls):
                out.append(f"{sign} {getattr(m, attr)}")
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):  # FieldInfo-style metadata
            if not isinstance(m, at.BaseMetadata) and getattr(m, attr, None) is not None:
                out.append(f"{sign} {getattr(m, attr)}")
    return ", ".join(dict.fromkeys(out))


def default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.get_default(call_default_factory=True)
    if value is PydanticUndefined:
        return "**required**"
    if isinstance(value, BaseModel):
        return "(section)"
    return f"`{json.dumps(value, default=str)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def sections(model: type[BaseModel] = Config, prefix: str = "") -> list[tuple[str, type[BaseModel]]]:
    """(dotted path, model) for the root and every nested section, depth first, in declaration order."""
    out = [(prefix, model)]
    for name, info in model.model_fields.items():
        for sub in dict.fromkeys(_models(info.annotation)):
            suffix = "[]" if typing.get_origin(info.annotation) is list else ""
            out += sections(sub, f"{prefix}{name}{suffix}.")
    return out


def undocumented(model: type[BaseModel] = Config) -> list[str]:
    """Dotted keys with no description (a field) or no docstring (a section); empty = complete."""
    missing = []
    for path, m in sections(model):
        if not (m.__doc__ or "").strip() or m.__doc__ == BaseModel.__doc__:
            missing.append(path.rstrip(".") or m.__name__)
        for name, info in m.model_fields.items():
            if not _models(info.annotation) and not (info.description or "").strip():
                missing.append(f"{path}{name}")
    return missing


def render() -> str:
    """The whole page, Markdown, starting with the generated marker."""
    lines = [
        generated.header(COMMAND, "cxops/config/schema.py and cxops/settings.py", "<!--").replace("\n", " -->\n"),
        "# Configuration reference",
        "",
        "Everything `cxops.yaml` can hold. Unknown keys are errors; a bad value is reported as `file:line key.path`",
        "and `cxops config check` exits 2. `cxops config show` prints the resolved configuration.",
        "",
    ]
    for path, model in sections():
        if not path:
            continue
        title = path.rstrip(".")
        doc = " ".join((model.__doc__ or "").split())
        lines += [
            f"## `{title}`",
            "",
            doc,
            "",
            "| key | type | default | limits | description |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, info in model.model_fields.items():
            nested = _models(info.annotation)
            desc = info.description or (" ".join((nested[0].__doc__ or "").split()) if nested else "")
            if nested:
                desc += f" (see `{path}{name}`)"
            row = [f"`{name}`", type_name(info.annotation), default_text(info), constraints(info), desc]
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        lines.append("")
    lines += [
        "## Environment variables",
        "",
        "Read in one place (`cxops/settings.py`); each description says how it combines with cxops.yaml.",
        "",
        "| variable | type | description |",
        "| --- | --- | --- |",
    ]
    for var, typ, desc, secret in variables():
        lines.append(f"| `{var}` | {typ} | {_cell(desc)}{' (a secret: never logged)' if secret else ''} |")
    return "\n".join(lines) + "\n"


def files(root: Path) -> dict[Path, str]:
    """The generated page under the project root."""
    return {root / DOC: render()}
