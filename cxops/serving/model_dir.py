"""Load a build directory: manifest check, the model's signature and classes from MLmodel, then the scorer:
the verified linear fast path when the build exported one AND it reproduces the model's own recorded output on
the build's probe rows, else the model through MLflow's pyfunc loader (any flavor)."""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cxops.serving.linear import LinearModel
from cxops.serving.manifest import verify_manifest
from cxops.serving.signature import InputSchema, SignatureError, parse_signature

LINEAR_FILE = Path("fast") / "linear.npz"
PROBE_FILE = Path("fast") / "probe.npz"  # probe rows and the model's own probabilities on them (from the build)
FAST_TOLERANCE = 1e-9
# skops refuses types outside its defaults; extra ones are accepted only from these trusted packages.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")


class ModelLoadError(Exception):
    pass


@dataclass
class LoadedModel:
    """What the server scores with. `scorer` is "linear" (numpy arrays) or "pyfunc" (MLflow's loader)."""

    schema: InputSchema
    classes: list[Any]
    class_names: list[str]
    version: dict[str, Any]
    flavor: str
    scorer: str
    linear: LinearModel | None = None
    pyfunc: Any = None
    notes: list[str] = field(default_factory=list)

    @property
    def n_features(self) -> int:
        return self.schema.n_values

    def proba_rows(self, X: np.ndarray) -> list[list[float]]:
        """Probabilities of a validated (rows, *row_shape) float64 array, as lists (rows of per-class floats).
        Raises FloatingPointError when they are not finite (inputs outside the model's numeric range)."""
        if self.linear is not None:
            return self.linear.proba_rows(X)  # checks its own range
        proba = self.pyfunc.proba(X)
        if not math.isfinite(np.add.reduce(proba, axis=None)):  # any NaN/inf element
            raise FloatingPointError("the model's scores overflow (not finite)")
        return proba.tolist()


def read_mlmodel(model_dir: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((model_dir / "MLmodel").read_text())


def model_classes(mlmodel: dict[str, Any]) -> tuple[list[Any], list[str]]:
    """Class labels (probability column order) and names from MLmodel metadata.cxops, else from the output
    signature's width (labels 0..k-1). ModelLoadError when neither says."""
    meta = (mlmodel.get("metadata") or {}).get("cxops") or {}
    if meta.get("classes"):
        classes = list(meta["classes"])
        return classes, [str(n) for n in meta.get("class_names", classes)]
    try:
        out = json.loads(mlmodel["signature"]["outputs"])
        k = int(out[0]["tensor-spec"]["shape"][-1])
    except (KeyError, TypeError, ValueError, IndexError):
        raise ModelLoadError(
            "the model states no classes (metadata.cxops.classes) and its output signature is "
            "not a (rows, classes) tensor"
        ) from None
    return list(range(k)), [str(i) for i in range(k)]


def load_estimator(model_dir: Path) -> Any:
    """The sklearn estimator from MLflow model files (MLmodel → flavors.sklearn); used by the build to export
    the linear fast path."""
    flavor = read_mlmodel(model_dir)["flavors"]["sklearn"]
    path, fmt = model_dir / flavor["pickled_model"], flavor.get("serialization_format")
    if fmt == "skops":
        import skops.io as sio

        untrusted = sio.get_untrusted_types(file=path)
        unknown = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
        if unknown:
            raise ModelLoadError(f"model file holds types outside sklearn/numpy/scipy: {unknown}")
        return sio.load(path, trusted=untrusted)
    if fmt in ("pickle", "cloudpickle"):
        # Only for models this project's own train step wrote (the registry is ours), never for uploads.
        with open(path, "rb") as fh:
            return pickle.load(fh)
    raise ModelLoadError(f"unsupported sklearn serialization_format {fmt!r}; expected skops or pickle")


def _fast_path(build_dir: Path, n_classes: int) -> tuple[LinearModel | None, str]:
    """The linear export if it reproduces the model's recorded probabilities on the probe rows, else why not."""
    if not (build_dir / LINEAR_FILE).exists():
        return None, "no linear export in the build"
    linear = LinearModel.load(build_dir / LINEAR_FILE)
    try:
        with np.load(build_dir / PROBE_FILE, allow_pickle=False) as z:
            X, expected = z["X"], z["proba"]
    except (OSError, KeyError, ValueError) as exc:
        return None, f"fast path refused: probe unreadable ({exc})"
    try:
        with np.errstate(all="ignore"):
            got = linear.proba(X)
            # both forms the server answers with: the vectorised one (above) and, row by row, the small-batch one
            one_by_one = np.array([linear.proba_rows(X[i : i + 1])[0] for i in range(len(X))]).reshape(got.shape)
    except FloatingPointError as exc:
        return None, f"fast path refused: not finite on the probe rows ({exc})"
    if got.shape != expected.shape or expected.shape[1] != n_classes:
        return None, f"fast path refused: probe output shape {list(got.shape)} vs {list(expected.shape)}"
    for form in (got, one_by_one):
        if not np.allclose(form, expected, rtol=0, atol=FAST_TOLERANCE):
            gap = np.abs(form - expected).max()
            return None, f"fast path refused: differs from the model's own output by {gap:.2e}"
    return linear, "fast path verified against the model's own output on the build's probe rows"


def load_model_dir(build_dir: Path, check_manifest: bool = True) -> LoadedModel:
    """The LoadedModel of a build dir (model/ as logged, fast/, version.json, manifest.json). ModelLoadError with
    the reason for anything that keeps it from serving exactly what was built."""
    try:
        if check_manifest and (problem := verify_manifest(build_dir)):
            raise ModelLoadError(problem)
        version = json.loads((build_dir / "version.json").read_text())
        mlmodel = read_mlmodel(build_dir / "model")
        flavors = mlmodel.get("flavors") or {}
        flavor = next((f for f in flavors if f != "python_function"), "python_function")
        if "python_function" not in flavors:
            raise ModelLoadError(f"the model has no python_function flavor (flavors: {sorted(flavors)})")
        try:
            schema = parse_signature(mlmodel)
        except SignatureError as exc:
            raise ModelLoadError(str(exc)) from None
        classes, names = model_classes(mlmodel)
        linear, note = _fast_path(build_dir, len(classes))
        if linear is not None:
            if schema.kind == "tensor" and schema.row_shape != (linear.n_features,):
                raise ModelLoadError(f"linear export takes {linear.n_features} features, signature {schema}")
            return LoadedModel(schema, classes, names, version, flavor, "linear", linear=linear, notes=[note])
        from cxops.serving.pyfunc_model import ContractError, PyfuncScorer

        scorer = PyfuncScorer(build_dir / "model", schema, len(classes), flavors)
        try:
            used = _check_example(build_dir / "model", scorer)
        except ContractError as exc:
            raise ModelLoadError(str(exc)) from None
        return LoadedModel(schema, classes, names, version, flavor, "pyfunc", pyfunc=scorer, notes=[note, used])
    except ModelLoadError:
        raise
    except Exception as exc:  # any corruption: report, do not crash the server (readyz says false)
        raise ModelLoadError(f"{type(exc).__name__}: {exc}") from exc


def _check_example(model_dir: Path, scorer: Any) -> str:
    """The model's own input example through the scorer: class probabilities (ContractError otherwise), and the
    per-request shortcut only if it agrees with pyfunc's predict. Returns the scorer's note."""
    from mlflow.models import Model

    example = Model.load(str(model_dir)).load_input_example(str(model_dir))
    if example is None:
        raise ModelLoadError("the model has no input example to check its output with; log it with input_example=")
    X = np.asarray(example.to_numpy() if hasattr(example, "to_numpy") else example, dtype=np.float64)
    return str(scorer.verify(X))
