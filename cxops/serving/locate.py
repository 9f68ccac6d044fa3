"""Which build context to serve, from the directory a person names: the context itself (model/ + version.json), the
build folder holding it (`.cxops/builds/<model>/<version>/`, as the README names builds), or the model files inside
it."""

from __future__ import annotations

from pathlib import Path

from cxops.errors import CxopsError

MARKER = "version.json"  # every build context has one (cxops step build writes it beside model/)
MAX_DEPTH = 3  # builds/<model>/<version>/context: the deepest layout a build folder may have below what is named


def _contexts(root: Path) -> list[Path]:
    """Build contexts up to MAX_DEPTH levels below ROOT, skipping hidden folders (a build still being written)."""
    found: list[Path] = []
    level = [root]
    for _ in range(MAX_DEPTH):
        level = sorted(d for parent in level for d in parent.iterdir() if d.is_dir() and not d.name.startswith("."))
        found += [d for d in level if (d / MARKER).is_file()]
        level = [d for d in level if not (d / MARKER).is_file()]
    return found


def build_context(given: Path) -> Path:
    """The build context (the folder holding version.json and model/) that GIVEN names: itself, its model/ folder's
    parent, or the one context below it. CxopsError naming what was found when there is none, or several."""
    if not given.is_dir():
        raise CxopsError(f"{given}: no such directory; pass a build folder, e.g. .cxops/builds/<model>/<version>")
    if (given / MARKER).is_file():
        return given
    if (given / "MLmodel").is_file() and (given.parent / MARKER).is_file():
        return given.parent  # the model files of a build
    found = _contexts(given)
    if len(found) == 1:
        return found[0]
    if not found:
        raise CxopsError(
            f"{given} holds no build (no {MARKER} in it or below it); builds are under .cxops/builds/ "
            "after `cxops step build V` or `cxops pipeline run`"
        )
    names = ", ".join(str(p) for p in found[:5]) + (", …" if len(found) > 5 else "")
    raise CxopsError(f"{given} holds {len(found)} builds ({names}); pass the one to serve")
