"""Example project: a small PyTorch CNN on the digits images (8x8, one channel), logged with MLflow's PyTorch
flavor. CPU only, one thread, trains in seconds; needs the `torch` extra (`pip install 'cxops[torch]'`).

The network ends in a softmax, so the logged model's pyfunc predict returns class probabilities (the interface's
contract) and `mlflow models serve` answers exactly what the cxops server answers. It is saved in MLflow's "pt2"
format (torch.export): the artifact holds the traced graph and weights, so serving needs no Python class of ours.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cxops.config.schema import Dataset as DatasetSpec
from cxops.errors import CxopsError
from cxops.model.digits import load_digits_split
from cxops.model.interface import Dataset, data_digest

DEFAULTS: dict[str, Any] = {"epochs": 8, "lr": 0.003, "batch_size": 64, "channels": 16, "seed": 0}


def _images(X: np.ndarray) -> np.ndarray:
    """(n, 64) pixel intensities 0..16 → (n, 1, 8, 8) float32 in [0, 1]: the layout a conv net takes."""
    return (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)


def build_net(channels: int, n_classes: int) -> Any:
    """conv(1→c) → conv(c→2c) → max-pool → dense(64) → dense(classes) → softmax; input (n, 1, 8, 8)."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(channels, 2 * channels, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * channels * 16, 64),
        nn.ReLU(),
        nn.Linear(64, n_classes),
        nn.Softmax(dim=1),
    )


class TorchDigitsCNN:
    """model.project: cxops.model.examples.torch_cnn:TorchDigitsCNN. Params: epochs, lr, batch_size, channels,
    seed (defaults in DEFAULTS)."""

    def load_data(self, spec: DatasetSpec) -> Dataset:
        flat = load_digits_split(spec)
        X_tr, X_te = _images(flat.X_train), _images(flat.X_test)
        return Dataset(
            X_train=X_tr,
            y_train=flat.y_train,
            X_test=X_te,
            y_test=flat.y_test,
            feature_names=[],
            class_names=flat.class_names,
            digest=data_digest(X_tr, flat.y_train, X_te, flat.y_test),
        )

    def train(self, params: dict[str, Any], data: Dataset) -> tuple[Any, dict[str, float]]:
        try:
            import torch
        except ImportError:
            raise CxopsError("model.project needs PyTorch: pip install 'cxops[torch]' (torch==2.13.0)") from None
        unknown = set(params) - set(DEFAULTS)
        if unknown:
            raise CxopsError(f"model.params: unknown parameter(s) {sorted(unknown)}; valid: {sorted(DEFAULTS)}")
        p = {**DEFAULTS, **params}
        torch.manual_seed(int(p["seed"]))
        torch.set_num_threads(1)  # tiny tensors: more threads only contend on a shared machine
        net = build_net(int(p["channels"]), len(data.class_names))
        X, y = torch.from_numpy(data.X_train), torch.from_numpy(data.y_train)
        opt = torch.optim.Adam(net.parameters(), lr=float(p["lr"]))
        loss_fn = torch.nn.NLLLoss()
        gen = torch.Generator().manual_seed(int(p["seed"]))
        net.train()
        loss = torch.tensor(0.0)
        for _ in range(int(p["epochs"])):
            order = torch.randperm(len(X), generator=gen)
            for i in range(0, len(X), int(p["batch_size"])):
                idx = order[i : i + int(p["batch_size"])]
                opt.zero_grad()
                loss = loss_fn(torch.log(net(X[idx]) + 1e-9), y[idx])
                loss.backward()
                opt.step()
        net.eval()
        with torch.no_grad():
            acc = float((net(X).argmax(1) == y).float().mean())
        return net, {"train_accuracy": acc, "train_loss": float(loss)}

    def log_model(self, model: Any, data: Dataset, *, name: str, metadata: dict[str, Any]) -> Any:
        import mlflow
        import torch
        from mlflow.models import infer_signature

        example = data.X_train[:2]
        with torch.no_grad():
            out = model(torch.from_numpy(example)).numpy()
        return mlflow.pytorch.log_model(
            model,
            name=name,
            signature=infer_signature(example, out),
            input_example=example,
            serialization_format="pt2",
            metadata=metadata,
            pip_requirements=[f"torch=={torch.__version__}", f"numpy=={np.__version__}"],
        )
