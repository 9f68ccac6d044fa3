"""build: assemble the serving artifact for a version under .cxops/builds/<version>/, digest it, name its image."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from cxops.config import Config
from cxops.model.interface import load_project
from cxops.paths import state_dir
from cxops.pipeline.build import builds_dir, content_digest, read_build, write_image_context
from cxops.pipeline.results import BuildResult
from cxops.registry.client import Registry


def run(cfg: Config, version: str) -> BuildResult:
    """Assemble `.cxops/builds/<version>/` (model files, manifest, version.json, golden predictions, image context)
    in a temporary directory and rename it into place, so a build is whole or absent; tag the version with its image
    and digest. Idempotent: an existing, unchanged build is returned as is. CxopsError for an unknown version."""
    import mlflow

    registry = Registry(cfg)
    info = registry.version(version)
    state = state_dir(cfg)
    final = builds_dir(state) / info.version
    existing = read_build(state, info.version)
    if existing is not None and content_digest(final / "context") == existing["digest"]:
        return BuildResult(**existing)  # same version, untouched artifact: nothing to do

    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{info.version}-", dir=builds_dir(state)))
    try:
        ctx = tmp / "context"
        ctx.mkdir()
        with registry.errors(f"downloading the model files of v{info.version}"):
            mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{cfg.model.name}/{info.version}",
                                                dst_path=str(ctx / "model"))
        lineage = {
            "name": cfg.model.name, "version": info.version, "run_id": info.run_id,
            "git_sha": info.tags.get("cxops.git_sha", "unknown"), "data_hash": info.tags.get("cxops.data_hash", ""),
        }  # fmt: skip
        (ctx / "version.json").write_text(json.dumps(lineage, indent=2))
        _serving_files(cfg, ctx)
        write_image_context(ctx)
        digest = content_digest(ctx)
        image = f"{cfg.serving.image_registry}/{cfg.model.name}:{info.version}-{digest.removeprefix('sha256:')[:12]}"
        result = BuildResult(version=info.version, image=image, digest=digest, path=str(final / "context"))
        (tmp / "build.json").write_text(json.dumps(result.outputs(), indent=2))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)  # atomic: a build dir is complete or absent
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    registry.set_version_tag(info.version, "cxops.build.image", image)
    registry.set_version_tag(info.version, "cxops.build.digest", digest)
    return result


def _serving_files(cfg: Config, ctx: Path) -> None:
    """golden.json (held-out rows and what THIS artifact predicts: staging must answer the same), the linear
    export when the model reproduces exactly as numpy arrays, and the manifest the server checks at start."""
    import numpy as np

    from cxops.serving.linear import extract
    from cxops.serving.manifest import write_manifest
    from cxops.serving.model_dir import LINEAR_FILE, load_estimator

    data = load_project(cfg.model.project).load_data(cfg.model.dataset)
    estimator = load_estimator(ctx / "model")
    X = data.X_test[: cfg.gates.staging.golden_samples]
    golden = {"inputs": X.tolist(), "predictions": estimator.predict(X).tolist(),
              "labels": data.y_test[: len(X)].tolist()}  # fmt: skip
    (ctx / "golden.json").write_text(json.dumps(golden))
    (ctx / "fast").mkdir()
    probe = np.vstack([data.X_test, np.random.default_rng(0).normal(size=(64, data.X_test.shape[1])) * 10])
    linear = extract(estimator, probe)
    if linear is not None:
        linear.save(ctx / LINEAR_FILE)
    write_manifest(ctx)
