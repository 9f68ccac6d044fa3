"""The gate maths every gate shares: a check passes only when it was computed, is finite and is within its limit.

`x > limit` is False for NaN, so a gate written as "fail if any check is above its limit" passes on a NaN. Here the
question is turned round: a gate passes only if every check positively passed. A gate that lacks evidence (fewer
samples than the configured minimum on some side) is neither passed nor failed but *inconclusive*; the CLI exits 4
for it and nothing is promoted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["passed", "failed", "inconclusive"]
# What a check's value is: the number itself (None), a lower bound ("above": the truth is greater, e.g. a quantile
# in a histogram's +Inf bucket), an upper bound ("below"), or a number whose relation to the truth is unknown.
Bound = Literal["above", "below", "unknown"] | None
BOUND_SIGN = {"above": "> ", "below": "< ", "unknown": "~ "}
PASSED: Outcome = "passed"
FAILED: Outcome = "failed"
INCONCLUSIVE: Outcome = "inconclusive"


def finite(value: Any) -> bool:
    """True for a real number that is neither NaN nor ±Infinity (bool is not a number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def describe(value: float | None, fmt: str = ".4g") -> str:
    """A number for a reason: 'NaN', 'Infinity', 'not computed' or the value formatted with `fmt`."""
    if value is None:
        return "not computed"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return format(value, fmt)


@dataclass(frozen=True)
class Check:
    """One number compared with one limit. `kind` "max": value <= limit passes; "min": value >= limit passes.

    `value` None means the check could not be computed (e.g. no latency samples); that never passes. `bound`
    says when `value` is only a bound of the truth (see Bound; `note` says why, for the reason): such a check
    passes only when the bound proves the truth within the limit, fails only when it proves it beyond, and is
    otherwise `undetermined` (the gate is then inconclusive, never passed).
    """

    name: str
    value: float | None
    limit: float
    kind: Literal["max", "min"]
    fmt: str = ".4g"
    bound: Bound = None
    note: str = ""

    def _comparable(self) -> bool:
        return self.value is not None and finite(self.value) and finite(self.limit)

    @property
    def ok(self) -> bool:
        """The truth is provably within the limit."""
        if not self._comparable():
            return False
        assert self.value is not None  # _comparable
        value, limit = float(self.value), self.limit
        if self.kind == "max":
            return value <= limit if self.bound in (None, "below") else False
        return value >= limit if self.bound in (None, "above") else False

    @property
    def undetermined(self) -> bool:
        """A bound that could be on either side of the limit: neither pass nor fail can be proved."""
        if self.bound is None or self.ok or not self._comparable():
            return False
        assert self.value is not None  # _comparable
        value, limit = float(self.value), self.limit
        if self.bound == "unknown":
            return True
        if self.kind == "max":  # proved beyond only when the truth is above a bound already above the limit
            return not (self.bound == "above" and value >= limit)
        return not (self.bound == "below" and value <= limit)

    def shown(self) -> str:
        """The value as reported: '1.2', or '> 1.2' for a lower bound ('< ' upper, '~ ' unknown direction)."""
        return BOUND_SIGN.get(self.bound or "", "") + describe(self.value, self.fmt)

    def reason(self) -> str:
        """Why the check did not pass (empty when it passed)."""
        if self.ok:
            return ""
        if not finite(self.value):
            return f"{self.name} is {describe(self.value, self.fmt)}; a gate passes only on finite evidence"
        if not finite(self.limit):
            return f"{self.name} limit is {describe(self.limit, self.fmt)}; limits must be finite"
        word = "max" if self.kind == "max" else "min"
        why = f" ({self.note})" if self.note else ""
        if self.undetermined:
            return (
                f"{self.name} is {self.shown()}{why}, a bound that may lie on either side of {word} "
                f"{format(self.limit, self.fmt)}; the gate cannot pass on it"
            )
        op = ">" if self.kind == "max" else "<"
        return f"{self.name} {self.shown()}{why} {op} {word} {format(self.limit, self.fmt)}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form for reports: a non-finite value becomes null beside its reason."""
        return {
            "name": self.name,
            "value": self.value if finite(self.value) else None,
            "bound": self.bound,
            "shown": self.shown() if finite(self.value) else None,  # the reason names NaN/Infinity
            "limit": self.limit,
            "kind": self.kind,
            "ok": self.ok,
            "undetermined": self.undetermined,
            "reason": self.reason(),
        }


@dataclass(frozen=True)
class Verdict:
    """A gate's decision: outcome, the reasons behind it (empty only when passed) and the checks it weighed."""

    outcome: Outcome
    reasons: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.outcome == PASSED


def decide(
    checks: Iterable[Check], samples: Mapping[str, float] | None = None, min_samples: float = 0, source: str = ""
) -> Verdict:
    """Inconclusive if any side in `samples` has fewer than `min_samples` (or a non-finite count); else passed
    only if every check is ok; else failed with every failing check's reason when some check provably fails;
    else (only bounds that may lie on either side of their limits) inconclusive with their reasons.

    samples: side name -> how many observations the evidence for that side holds. `source` names where the
    evidence came from (Prometheus URL and selector, or /metrics) so an inconclusive reason says where to look.
    """
    checks = list(checks)
    short = {s: n for s, n in (samples or {}).items() if not finite(n) or n < min_samples}
    if short:
        where = f" from {source}" if source else ""
        reasons = [
            f"inconclusive: {side} has {describe(n, '.0f')} samples{where}, fewer than the minimum {min_samples:g}"
            for side, n in short.items()
        ]
        return Verdict(INCONCLUSIVE, reasons, checks)
    reasons = [c.reason() for c in checks if not c.ok]
    if reasons and all(c.undetermined for c in checks if not c.ok):
        return Verdict(INCONCLUSIVE, reasons, checks)
    return Verdict(FAILED if reasons else PASSED, reasons, checks)


def json_safe(data: Any, path: str = "", nulls: dict[str, str] | None = None) -> Any:
    """A copy of `data` with every non-finite float replaced by None; `nulls` collects {dotted.path: 'NaN'|...}.

    JSON has no NaN: Python's json writes a bare `NaN` that strict parsers (jq, browsers, Go) reject.
    """
    if isinstance(data, float) and not math.isfinite(data):
        if nulls is not None:
            nulls[path or "(value)"] = describe(data)
        return None
    if isinstance(data, Mapping):
        return {k: json_safe(v, f"{path}.{k}" if path else str(k), nulls) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [json_safe(v, f"{path}[{i}]", nulls) for i, v in enumerate(data)]
    return data


def gate_line(gate: str, outcome: object) -> str:
    """How the CLI words a gate's outcome, in one place: "<gate> gate passed", "<gate> gate FAILED" or "<gate> gate
    INCONCLUSIVE"; a missing or unknown outcome reads as failed (only a pass passes)."""
    words: dict[str, str] = {PASSED: "passed", INCONCLUSIVE: "INCONCLUSIVE"}
    word = words.get(str(outcome), "FAILED")
    return f"{gate} gate {word}"
