"""One module per step; each exposes `run(cfg, ...) -> <Result>` and knows nothing of its executor."""
