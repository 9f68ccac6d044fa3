"""Load cxops.yaml into the typed Config, reporting every problem with its file, line and key path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

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


def _describe(err: dict, label: str, lines: Lines) -> str:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    where = f"{label}:{_line_of(loc, lines)}"
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return f"{where} {_dotted(loc)}: unknown key (check the spelling; `cxops config show` lists valid keys)"
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
        raise ConfigError([_describe(dict(e), label, lines) for e in exc.errors()]) from None


def config_path(explicit: str | os.PathLike | None = None) -> Path:
    """The config file: an explicit path, else $CXOPS_CONFIG, else ./cxops.yaml."""
    from cxops.settings import settings

    return Path(explicit or settings().config or DEFAULT_FILE)


def load_config(path: str | os.PathLike | None = None) -> Config:
    p = config_path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [f"{p}: no such file; run cxops from the project root or pass --config / set CXOPS_CONFIG"]
        ) from None
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read: {exc.strerror}"]) from None
    return parse_config(text, label=str(p))
