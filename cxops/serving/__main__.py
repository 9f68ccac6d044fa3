"""`python -m cxops.serving --model-dir DIR`: the serving image's entry point (no config, no CLI imports)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(prog="cxops.serving", description="Serve a cxops build directory over HTTP.")
    ap.add_argument("--model-dir", required=True, type=Path, help="a build dir: model/ + version.json")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--env", default=os.environ.get("CXOPS_ENV", "local"))
    ap.add_argument("--max-batch", type=int, default=1024)
    args = ap.parse_args()
    serve(args.model_dir, args.host, args.port, args.env, args.max_batch)


def serve(model_dir: Path, host: str, port: int, env: str, max_batch: int) -> None:
    import uvicorn

    from cxops.serving.app import create_app

    app = create_app(model_dir.resolve(), env=env, max_batch=max_batch)
    # One process per replica (Kubernetes scales out); access logs off: they cost throughput and say nothing new.
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning", http="httptools", loop="uvloop")


if __name__ == "__main__":
    main()
