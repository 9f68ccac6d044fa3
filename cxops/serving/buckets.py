"""The model server's histogram buckets (cxops.serving.metrics), apart from it so that the configuration can check
the gates' latency limits against them without importing the server."""

from __future__ import annotations

# Request latency buckets (seconds): the Renard R10 preferred numbers (10 per decade, each ~1.26x the one before)
# from 10 µs to 10 s. A server answers in tens to hundreds of µs, so the old lowest bucket (0.5 ms) held every
# request and any quantile was an interpolation between 0 and that edge (p95 = 0.475 ms whatever was served);
# ~26% wide buckets keep an interpolated quantile within that of the true one from 10 µs up to far past the gates'
# limits (staging max_p95_ms, default 200 ms), and anything slower still has bounded buckets up to 10 s.
R10 = (1.0, 1.25, 1.6, 2.0, 2.5, 3.15, 4.0, 5.0, 6.3, 8.0)
LATENCY_BUCKETS = (*(float(f"{m * 10.0**e:.3g}") for e in range(-5, 1) for m in R10), 10.0)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)

# How far past a gate's latency limit the top finite latency bucket must reach: a p95 at the limit, and the tail
# above it, then fall in finite buckets, so a quantile near the limit is measured, not only bounded (issue 26, class 1).
LIMIT_MARGIN = 4
