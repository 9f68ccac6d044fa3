"""The gates: evidence (metrics windows from /metrics or Prometheus, load) and verdicts (checks, reports, plots)."""
