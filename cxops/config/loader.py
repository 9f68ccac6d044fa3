"""Load cxops.yaml into the typed Config, reporting every problem with its file, line and key path."""

from __future__ import annotations

import difflib
import os
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from cxops.config.schema import Config
from cxops.errors import ConfigError

DEFAULT_FILE = "cxops.yaml"
Lines = dict[tuple[str | int, ...], int]


def _construct(node: yaml.Node, path: tuple, lines: Lines, label: str) -> Any:
    """Turn a composed YAML node into plain data, recording the 1-based line of every key path."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value  # keys are scalars; cxops.yaml has only string keys
            if key in out:
                raise ConfigError([f"{label}:{key_node.start_mark.line + 1} {_dotted((*path, key))}: duplicate key"])
            out[key] = _construct(value_node, (*path, key), lines, label)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines, label) for i, item in enumerate(node.value)]
    # Scalars: let a SafeLoader resolve the tag (int, float, bool, null, str).
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _dotted(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _line_of(loc: tuple, lines: Lines) -> int:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return 1


def _section(loc: tuple) -> type[BaseModel] | None:
    """The schema section (a pydantic model) at key path LOC, following sections, lists and maps; None when LOC
    leads somewhere else."""
    node: Any = Config
    for part in loc:
        model = _model_in(node)
        if model is None:
            return None
        # a list index or a map key: the items' model, which _model_in found through the list or map
        node = model if isinstance(part, int) or part not in model.model_fields else model.model_fields[part].annotation
    return _model_in(node)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds directly, or as an optional, list or map value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in reversed(typing.get_args(annotation)):
        if (found := _model_in(arg)) is not None:
            return found
    return None


def _unknown_key(loc: tuple, where: str, missing: set[tuple]) -> str:
    """One line for an unknown key: the closest valid name at its level (a required key missing there first: the
    typo is why it is missing) and every valid name, which the schema gives even when the file is broken."""
    section = _section(loc[:-1])
    valid = list(section.model_fields) if section is not None else []
    missing_here = [str(m[-1]) for m in missing if m[:-1] == loc[:-1]]
    close = difflib.get_close_matches(str(loc[-1]), missing_here, n=1, cutoff=0.6) or difflib.get_close_matches(
        str(loc[-1]), valid, n=1, cutoff=0.6
    )
    guess = f"; did you mean {close[0]!r}?" if close else ""
    names = f" (valid here: {', '.join(valid)})" if valid else ""
    return f"{where} {_dotted(loc)}: unknown key{guess}{names}; every key is in docs/configuration.md"


def _describe(err: dict, label: str, lines: Lines, missing: set[tuple]) -> str:
    loc = _loc(err)
    where = f"{label}:{_line_of(loc, lines)}"
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return _unknown_key(loc, where, missing)
    if kind == "missing":
        return f"{where} {_dotted(loc)}: required key is missing"
    msg = msg.removeprefix("Value error, ")
    got = err.get("input")
    if "input" in err and not isinstance(got, dict | list) and "got " not in msg:  # name the bad value once
        msg = f"{msg}, got {got!r}"
    return f"{where} {_dotted(loc)}: {msg}"


def parse_config(text: str, label: str = DEFAULT_FILE) -> Config:
    """Parse YAML text into a Config or raise ConfigError listing every problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError([f"{label}:{line} malformed YAML: {exc.problem or exc.context}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{label}: malformed YAML: {exc}"]) from None
    if root is None:
        raise ConfigError([f"{label}:1 the file is empty; expected a mapping with project, cloud, model, ..."])
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError([f"{label}:1 top level must be a mapping of sections (project, cloud, model, ...)"])
    lines: Lines = {}
    data = _construct(root, (), lines, label)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        errors = [dict(e) for e in exc.errors()]
        raise ConfigError(_problems(errors, label, lines)) from None


def _loc(err: dict) -> tuple:
    return tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))


def _problems(errors: list[dict], label: str, lines: Lines) -> list[str]:
    """One line per problem. A required key reported missing beside an unknown key that is its misspelling (e.g.
    `modle:` for `model:`) is one problem: the unknown key's line, naming the valid key; the missing key has no line
    of its own in the file, so reporting it would point at another line."""
    missing = {_loc(e) for e in errors if e["type"] == "missing"}
    unknown = [_loc(e) for e in errors if e["type"] == "extra_forbidden"]
    misspelt: set[tuple] = set()
    for loc in unknown:
        siblings = [str(m[-1]) for m in missing if m[:-1] == loc[:-1]]
        misspelt.update(
            (*loc[:-1], name) for name in difflib.get_close_matches(str(loc[-1]), siblings, n=1, cutoff=0.6)
        )
    return [_describe(e, label, lines, missing) for e in errors if not (e["type"] == "missing" and _loc(e) in misspelt)]


def find_config(start: Path | None = None) -> Path | None:
    """The nearest cxops.yaml in START (default: the working directory) or one of its parents, the way git finds
    its repository, so a command (or a notebook's kernel) started in a subfolder of the project finds it.
    None when there is none up to the filesystem root."""
    here = (start or Path.cwd()).absolute()
    for directory in (here, *here.parents):
        candidate = directory / DEFAULT_FILE
        if candidate.is_file():
            return candidate
    return None


def config_path(explicit: str | os.PathLike | None = None) -> Path:
    """The config file: an explicit path, else $CXOPS_CONFIG, else the nearest cxops.yaml in the working directory or
    a parent (`find_config`), else ./cxops.yaml (which `load_config` reports as missing)."""
    from cxops.settings import settings

    given = explicit or settings().config
    if given:
        return Path(given)
    return find_config() or Path(DEFAULT_FILE)


def load_config(path: str | os.PathLike | None = None) -> Config:
    """The validated Config from `config_path(path)`. ConfigError (exit 2) for a missing, unreadable or invalid file,
    one line per problem with its file, line and key path. In a workflow step (CXOPS_EXECUTOR=argo) the cluster's
    view of it (cxops.cluster_config.cluster_view), or ConfigError naming each lab value left in it."""
    from cxops.settings import settings

    p = config_path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        if path or settings().config:
            raise ConfigError([f"{p}: no such file (named by --config or CXOPS_CONFIG)"]) from None
        raise ConfigError(
            [
                f"{DEFAULT_FILE}: no such file in {Path.cwd()} or any parent directory; run cxops inside a project "
                "(a folder holding cxops.yaml, or one below it) or pass --config / set CXOPS_CONFIG"
            ]
        ) from None
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read: {exc.strerror}"]) from None
    cfg = parse_config(text, label=_shown(p))
    from cxops.cluster_config import cluster_view, in_cluster

    return cluster_view(cfg) if in_cluster() else cfg


def _shown(path: Path) -> str:
    """PATH as messages name it: relative to the working directory when it is inside it, else absolute."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path.absolute())
