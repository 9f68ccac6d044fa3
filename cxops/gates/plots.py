"""Pictures a person would rather look at than read: confusion matrix, canary comparison."""

from __future__ import annotations

from pathlib import Path

from cxops.gates.verdict import Check, finite


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no screen here, nor in a pod
    import matplotlib.pyplot as plt

    return plt


def confusion_png(confusion: list[list[int]], class_names: list[str], title: str, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    im = ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(class_names)), class_names)
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    peak = max(max(r) for r in confusion) or 1
    for i, row in enumerate(confusion):
        for j, v in enumerate(row):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color="white" if v > peak / 2 else "black")
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def canary_png(class_share: dict[str, list[float]], checks: list[Check], path: Path) -> Path:
    """Left: predicted-class share per side. Right: each gate check's value against its threshold (green passes,
    red fails; a value not computed or not finite is drawn as an empty red bar)."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    sides = list(class_share)
    n = len(next(iter(class_share.values())))
    width = 0.8 / max(len(sides), 1)
    for k, side in enumerate(sides):
        left.bar([i + k * width for i in range(n)], class_share[side], width=width, label=side)
    left.set_xticks([i + width * (len(sides) - 1) / 2 for i in range(n)], [str(i) for i in range(n)])
    left.set_title("predicted class share (mirrored inputs)")
    left.legend()
    names = [c.name for c in checks]
    values = [c.value if finite(c.value) else 0.0 for c in checks]
    right.barh(names, values, color=["#55a868" if c.ok else "#c44e52" for c in checks])
    right.scatter([c.limit for c in checks], names, marker="|", s=600, color="black", label="threshold", zorder=3)
    right.set_title("canary gate: value vs threshold")
    right.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency_png(latencies_ms: list[float], limit_ms: float, title: str, path: Path) -> Path:
    """Load-test latency histogram with the p95 and the configured limit marked."""
    from cxops.gates.load import percentile

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    import numpy as np

    # log-spaced bins: sub-millisecond requests and a limit of hundreds of ms both stay visible
    lo = max(min(latencies_ms, default=0.01), 0.01)
    hi = max(max(latencies_ms, default=1.0), limit_ms) * 1.2
    ax.hist(latencies_ms, bins=np.geomspace(lo, hi, 60), color="#4c72b0")
    ax.set_xscale("log")
    p95 = percentile(sorted(latencies_ms), 0.95)
    ax.axvline(p95, color="black", linestyle="--", label=f"p95 {p95:.1f} ms")
    ax.axvline(limit_ms, color="red", label=f"limit {limit_ms:g} ms")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("requests")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def costs_png(labels: list[str], costs: list[float], currency: str, path: Path) -> Path:
    """Bar chart of the cost of each training run (in `currency`), in the order given (oldest first)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.5 * len(labels)), 3))
    ax.bar(labels, costs)
    ax.set_ylabel(f"cost ({currency})")
    ax.set_xlabel("training run (oldest → newest)")
    ax.tick_params(axis="x", labelrotation=60)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
