"""The generic scoring path: any MLflow model, loaded through MLflow's pyfunc loader (mlflow.pyfunc.load_model),
fed the validated float64 array in the form its signature declares (a tensor of the spec's dtype, or a DataFrame
with the signature's columns and dtypes), its output checked to be class probabilities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cxops.serving.signature import InputSchema

PROBA_TOLERANCE = 1e-3  # rows of a float32 softmax sum to 1 within ~1e-6; 1e-3 still refuses logits and labels


class ContractError(Exception):
    """The model's output is not class probabilities of the expected width."""


def as_probabilities(out: Any, n_classes: int) -> np.ndarray:
    """The model's output as a float64 (rows, n_classes) array of probabilities. ContractError (naming what came
    back) for labels, logits, a wrong number of columns or rows that do not sum to 1."""
    arr = np.asarray(out.to_numpy() if hasattr(out, "to_numpy") else out, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != n_classes:
        raise ContractError(
            f"predict returned shape {list(arr.shape)}; the interface needs class probabilities (rows, {n_classes})"
        )
    if arr.size and np.isfinite(arr).all():
        if arr.min() < -PROBA_TOLERANCE or arr.max() > 1 + PROBA_TOLERANCE:
            raise ContractError("predict returned values outside [0, 1] (logits?); end the model in a softmax")
        if not np.allclose(arr.sum(axis=1), 1.0, atol=PROBA_TOLERANCE):
            raise ContractError("predict returned rows that do not sum to 1; the interface needs probabilities")
    return arr


def model_input(X: np.ndarray, schema: InputSchema) -> Any:
    """The validated array in the form the model's signature declares: ndarray of the tensor dtype, or a pandas
    DataFrame with the signature's column names and dtypes."""
    if schema.kind == "tensor":
        return X.astype(schema.dtypes[0], copy=False)
    import pandas as pd

    frame = pd.DataFrame(X, columns=list(schema.names))
    if any(d != "float64" for d in schema.dtypes):
        frame = frame.astype(dict(zip(schema.names, schema.dtypes, strict=True)))
    return frame


class PyfuncScorer:
    """A model directory loaded with mlflow.pyfunc.load_model. `proba(X)` takes the validated array."""

    def __init__(self, model_dir: Path, schema: InputSchema, n_classes: int, flavors: dict[str, Any]) -> None:
        if "pytorch" in flavors:  # one server process per replica; intra-op threads only contend on small inputs
            import torch

            torch.set_num_threads(1)
        if "sklearn" in flavors:  # inputs are validated finite before scoring; sklearn need not check again
            import sklearn

            sklearn.set_config(assume_finite=True)
        import mlflow.pyfunc

        self.model = mlflow.pyfunc.load_model(str(model_dir))
        # The request was validated against the signature already; MLflow's own schema enforcement on every call
        # repeats that work. `_predict_fn` (the flavor's predict_fn, e.g. predict_proba) is what pyfunc's predict
        # calls after it; `verify` keeps it only if it answers exactly what the public predict does.
        self._predict = getattr(self.model, "_predict_fn", None) or self.model.predict
        self.direct = self._predict is not self.model.predict
        self.schema = schema
        self.n_classes = n_classes

    def proba(self, X: np.ndarray) -> np.ndarray:
        return as_probabilities(self._predict(model_input(X, self.schema)), self.n_classes)

    def verify(self, X: np.ndarray) -> str:
        """Check the output contract on `X` (the model's input example) through pyfunc's public predict (raises
        ContractError), then keep the direct call only if it gives the same probabilities. Returns what was used."""
        reference = self.proba_checked(X)
        if self.direct:
            try:
                same = np.allclose(self.proba(X), reference, rtol=0, atol=1e-9)
            except Exception:  # any failure of the shortcut: use the public path
                same = False
            if same:
                return "pyfunc: flavor predict_fn called directly (verified equal to pyfunc predict on the example)"
            self._predict, self.direct = self.model.predict, False
        return "pyfunc: predict with MLflow's schema enforcement"

    def proba_checked(self, X: np.ndarray) -> np.ndarray:
        """Through pyfunc's public predict (with MLflow's schema enforcement): the reference the fast call is
        compared with at load time."""
        return as_probabilities(self.model.predict(model_input(X, self.schema)), self.n_classes)
