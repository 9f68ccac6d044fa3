"""build: assemble the serving artifact of a model version under .cxops/builds/<model>/<version>/, digest it, name
its image."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from cxops.builds import (
    build_dir,
    content_digest,
    read_build,
    write_image_context,
    write_model_requirements,
)
from cxops.config import Config
from cxops.errors import CxopsError
from cxops.model.interface import load_project
from cxops.paths import state_dir
from cxops.pipeline.results import BuildResult
from cxops.registry.client import Registry
from cxops.serving.manifest import model_digest


def run(cfg: Config, version: str) -> BuildResult:
    """Assemble `.cxops/builds/<model>/<version>/` (model files, manifest, version.json, golden predictions, image
    context) in a temporary directory and rename it into place, so a build is whole or absent; tag the version with
    its image, digest and model digest. Idempotent: an existing, unchanged build of the same model and version is
    returned as is; another model's build is never reused. CxopsError for an unknown version."""
    import mlflow

    registry = Registry(cfg)
    info = registry.version(version)
    state = state_dir(cfg)
    final = build_dir(state, cfg.model.name, info.version)
    existing = read_build(state, cfg.model.name, info.version)
    if (
        existing is not None
        and existing.get("model_digest") == model_digest(final / "context")
        and content_digest(final / "context") == existing["digest"]
    ):
        return BuildResult(**existing)  # same model and version, untouched artifact: nothing to do

    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{info.version}-", dir=final.parent))
    try:
        # mkdtemp makes it 0700 (its owner only); in the cluster BuildKit reads the context as another user
        tmp.chmod(0o755)
        ctx = tmp / "context"
        ctx.mkdir()
        with registry.errors(f"downloading the model files of v{info.version}"):
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{cfg.model.name}/{info.version}", dst_path=str(ctx / "model")
            )
        lineage = {
            "name": cfg.model.name,
            "version": info.version,
            "run_id": info.run_id,
            "git_sha": info.tags.get("cxops.git_sha", "unknown"),
            "data_hash": info.tags.get("cxops.data_hash", ""),
        }
        (ctx / "version.json").write_text(json.dumps(lineage, indent=2))
        write_image_context(ctx)
        _serving_files(cfg, ctx)
        digest = content_digest(ctx)
        image = f"{cfg.serving.image_registry}/{cfg.model.name}:{info.version}-{digest.removeprefix('sha256:')[:12]}"
        served = model_digest(ctx)
        if served is None:
            raise CxopsError(f"the build of {cfg.model.name} v{info.version} wrote no readable manifest.json")
        result = BuildResult(
            version=info.version,
            image=image,
            digest=digest,
            path=str(final / "context"),
            name=cfg.model.name,
            model_digest=served,
        )
        (tmp / "build.json").write_text(json.dumps(result.outputs(), indent=2))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)  # atomic: a build dir is complete or absent
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    registry.set_version_tag(info.version, "cxops.build.image", image)
    registry.set_version_tag(info.version, "cxops.build.digest", digest)
    registry.set_version_tag(info.version, "cxops.build.model_digest", result.model_digest)
    return result


def _serving_files(cfg: Config, ctx: Path) -> None:
    """golden.json: the model's own input example plus held-out rows (up to gates.staging.golden_samples) and what
    THIS artifact predicts for them through MLflow's pyfunc loader (staging must answer the same); the linear
    export with its probe rows and the model's own probabilities on them (the server re-checks it at load time);
    the model's pinned requirements; the manifest the server checks at start."""
    import numpy as np
    from mlflow.models import Model

    from cxops.model.evaluation import load_classifier, probabilities
    from cxops.serving.linear import extract
    from cxops.serving.manifest import write_manifest
    from cxops.serving.model_dir import LINEAR_FILE, PROBE_FILE, load_estimator, model_classes, read_mlmodel

    model_dir = ctx / "model"
    mlmodel = read_mlmodel(model_dir)
    classes, _ = model_classes(mlmodel)
    scorer = load_classifier(str(model_dir))
    example = Model.load(str(model_dir)).load_input_example(str(model_dir))
    if example is None:
        raise CxopsError(f"the model of {ctx.parent.name} has no input example; log it with input_example=")
    X_example = np.asarray(example.to_numpy() if hasattr(example, "to_numpy") else example, dtype=np.float64)
    data = load_project(cfg.model.project).load_data(cfg.model.dataset)
    X_held = np.asarray(data.X_test[: cfg.gates.staging.golden_samples], dtype=np.float64)
    if X_held.shape[1:] != X_example.shape[1:]:
        raise CxopsError(
            f"held-out rows have shape {list(X_held.shape[1:])}, the model's input example "
            f"{list(X_example.shape[1:])}: model.dataset does not match the model"
        )
    X = np.concatenate([X_example, X_held])
    proba = probabilities(scorer, X, f"build of {ctx.parent.name}")
    golden = {
        "inputs": X.tolist(),
        "predictions": [classes[i] for i in proba.argmax(axis=1)],
        "probabilities": proba.round(6).tolist(),
        "from_input_example": len(X_example),
    }
    (ctx / "golden.json").write_text(json.dumps(golden))
    (ctx / "fast").mkdir()
    if "sklearn" in (mlmodel.get("flavors") or {}) and X.ndim == 2:
        probe = np.vstack(
            [np.asarray(data.X_test, dtype=np.float64), np.random.default_rng(0).normal(size=(64, X.shape[1])) * 10]
        )
        linear = extract(load_estimator(model_dir), probe)
        own = probabilities(scorer, probe, f"build of {ctx.parent.name}")  # the model's own output, via pyfunc
        if linear is not None and np.allclose(linear.proba(probe), own, rtol=0, atol=1e-9):
            linear.save(ctx / LINEAR_FILE)
            np.savez(ctx / PROBE_FILE, X=probe, proba=own)
    write_model_requirements(ctx, mlmodel)
    write_manifest(ctx)
