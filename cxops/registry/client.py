"""A thin MLflow client: runs, versions, aliases and lineage, with bounded waits and one-line errors."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cxops.config import Config
from cxops.errors import CxopsError
from cxops.registry.tracking import tracking_uri
from cxops.waiting import wait_until

# MLflow's own HTTP retries default to 7 tries with long backoff (minutes); keep a dead server a short, bounded wait.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
# Keep stdout for results (and --json): no "View run at" banners.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
logging.getLogger("mlflow").setLevel(logging.WARNING)


def is_absent(exc: BaseException) -> bool:
    """True only for MLflow's "this thing does not exist" answers (a missing run, version, model or alias).

    MLflow reports a missing run/version/model as RESOURCE_DOES_NOT_EXIST and a missing alias as
    INVALID_PARAMETER_VALUE "Registered model alias X not found." (mlflow/store/model_registry/sqlalchemy_store.py).
    Anything else (server down, 5xx, timeout, permission) is NOT absence and must surface as an error."""
    code = str(getattr(exc, "error_code", ""))
    text = str(exc).lower()
    if code == "RESOURCE_DOES_NOT_EXIST":
        return True
    return code == "INVALID_PARAMETER_VALUE" and "alias" in text and "not found" in text


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: str
    run_id: str
    aliases: list[str]
    tags: dict[str, str]
    status: str
    source: str


class Registry:
    def __init__(self, cfg: Config, start_lab: bool = True, model: str | None = None) -> None:
        """`start_lab=False`: never start the lab's MLflow on demand (a hook or the controller must see it down).
        `model`: the registered model to work on (default: model.name in cxops.yaml)."""
        self.cfg = cfg
        self.name = model or cfg.model.name
        self.uri = tracking_uri(cfg, start_lab=start_lab)
        from mlflow.tracking import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)  # mlflow resets its level on import
        self.client = MlflowClient(tracking_uri=self.uri)

    # -- runs -------------------------------------------------------------------------------------------------
    def run(self, run_id: str) -> Any:
        from mlflow.exceptions import MlflowException

        with self.errors(f"reading run {run_id}"):
            try:
                return self.client.get_run(run_id)
            except MlflowException as exc:
                if is_absent(exc):
                    raise CxopsError(f"run id {run_id!r} does not exist in MLflow at {self.uri}") from None
                raise

    def finished_run(self, run_id: str, timeout: float = 600) -> Any:
        """Wait (bounded, backoff) until the run ends; a FAILED or KILLED run stops the chain."""

        def probe() -> Any:
            run = self.run(run_id)
            status = run.info.status
            if status in ("FAILED", "KILLED"):
                raise CxopsError(f"run {run_id} ended {status}; the pipeline stops here")
            return run if status == "FINISHED" else None

        return wait_until(probe, timeout=timeout, what=f"run {run_id} to finish", first=0.2, cap=5.0)

    # -- versions and aliases ---------------------------------------------------------------------------------
    def version(self, version: str | int) -> VersionInfo:
        from mlflow.exceptions import MlflowException

        with self.errors(f"reading {self.name} version {version}"):
            try:
                mv = self.client.get_model_version(self.name, str(version))
            except MlflowException as exc:
                if not is_absent(exc):
                    raise  # down, 5xx, bad request: `errors` names the server
                raise CxopsError(
                    f"model version {version!r} of {self.name!r} does not exist; see `cxops models list`"
                ) from None
        return _info(mv)

    def alias_version(self, alias: str) -> VersionInfo | None:
        """The version `alias` points to; None only when MLflow says the alias (or the model) does not exist.
        Raises CxopsError naming the server when MLflow cannot answer."""
        from mlflow.exceptions import MlflowException

        with self.errors(f"reading alias {alias}"):
            try:
                mv = self.client.get_model_version_by_alias(self.name, alias)
            except MlflowException as exc:
                if is_absent(exc):
                    return None
                raise
        return _info(mv)

    def set_alias(self, alias: str, version: str) -> None:
        with self.errors(f"setting alias {alias}"):
            self.client.set_registered_model_alias(self.name, alias, str(version))

    def delete_alias(self, alias: str) -> None:
        """Remove `alias`; an alias that is already absent is fine, any other failure raises CxopsError."""
        from mlflow.exceptions import MlflowException

        with self.errors(f"deleting alias {alias}"):
            try:
                self.client.delete_registered_model_alias(self.name, alias)
            except MlflowException as exc:
                if not is_absent(exc):
                    raise

    def set_version_tag(self, version: str, key: str, value: str) -> None:
        with self.errors(f"tagging version {version}"):
            self.client.set_model_version_tag(self.name, str(version), key, value)

    def versions(self) -> list[VersionInfo]:
        """Every version of the model, newest first, with its aliases; [] when the model is not registered yet."""
        from mlflow.exceptions import MlflowException

        with self.errors("listing versions"):
            found = self.client.search_model_versions(f"name='{self.name}'", max_results=1000)
            # search_model_versions() leaves aliases empty: read them from the registered model.
            try:
                aliases = self.client.get_registered_model(self.name).aliases or {}
            except MlflowException as exc:
                if not is_absent(exc):
                    raise
                aliases = {}  # no registered model yet
        by_version: dict[str, list[str]] = {}
        for alias, v in aliases.items():
            by_version.setdefault(str(v), []).append(alias)
        out = [_info(mv, by_version.get(str(mv.version), [])) for mv in found]
        return sorted(out, key=lambda v: int(v.version), reverse=True)

    def wait_version_ready(self, version: str, timeout: float = 120) -> VersionInfo:
        def probe() -> VersionInfo | None:
            info = self.version(version)
            if info.status == "FAILED_REGISTRATION":
                raise CxopsError(f"{self.name} version {version} failed registration")
            return info if info.status == "READY" else None

        return wait_until(probe, timeout=timeout, what=f"{self.name} v{version} to be READY", first=0.2, cap=2.0)

    @contextmanager
    def errors(self, doing: str):
        """Turn connection failures into one line naming the URI (MLflow's own retries are bounded above)."""
        from mlflow.exceptions import MlflowException

        try:
            yield
        except CxopsError:
            raise
        except MlflowException as exc:
            text = str(exc).splitlines()[0][:300]
            if "Max retries" in text or "Connection" in text or "API request" in text:
                raise CxopsError(f"MLflow at {self.uri} is down or unreachable while {doing}: {text}") from None
            raise CxopsError(f"MLflow at {self.uri} failed while {doing}: {text}") from None
        except OSError as exc:
            raise CxopsError(f"MLflow at {self.uri} is unreachable while {doing}: {exc}") from None


def _info(mv: Any, aliases: list[str] | None = None) -> VersionInfo:
    return VersionInfo(
        name=mv.name,
        version=str(mv.version),
        run_id=mv.run_id or "",
        aliases=sorted(aliases if aliases is not None else (mv.aliases or [])),
        tags=dict(mv.tags or {}),
        status=str(mv.status),
        source=mv.source or "",
    )
