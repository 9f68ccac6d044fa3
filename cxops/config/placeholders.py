"""Templated strings in cxops.yaml: which `{placeholders}` each may hold and which it must hold.

A template that lacks its distinguishing placeholder silently makes every environment the same thing: a canary
selector without `{env}`/`{namespace}` compares production with itself and always passes; an ArgoCD app name
without `{env}` points every environment at one Application.
"""

from __future__ import annotations

import string
from collections.abc import Collection


def placeholders(template: str) -> list[str]:
    """The `{names}` in a str.format template, in order. Raises ValueError for unbalanced braces, a positional
    `{}` or a conversion/format spec (`{env!r}`, `{env:>5}`), none of which a cxops template uses."""
    names = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"is not a valid template ({exc}; write a literal brace as '{{{{' or '}}}}'") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name or spec or conversion:
            raise ValueError(
                f"has placeholder {{{name}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}}; only plain named placeholders are filled in"
            )
        names.append(name)
    return names


def check_template(template: str, allowed: Collection[str], need_one_of: Collection[str]) -> str:
    """`template` if every placeholder is in `allowed` and at least one of `need_one_of` is present; else
    ValueError naming what is wrong and what would be valid."""
    names = placeholders(template)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}}; valid: " + ", ".join(f"{{{a}}}" for a in allowed))
    if not set(names) & set(need_one_of):
        need = " or ".join(f"{{{n}}}" for n in need_one_of)
        raise ValueError(
            f"must hold {need} so each environment gets its own value (without it every environment "
            f"is the same), got {template!r}"
        )
    return template
