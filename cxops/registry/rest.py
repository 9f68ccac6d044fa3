"""A read-only view of model versions over MLflow's REST API, for callers that must answer in a second or two.

A git hook runs on every push and must not spend seconds importing the MLflow client (it dominates a push's time
on a busy machine); the two reads the promotion rules need are plain HTTP GETs of MLflow's documented REST API
(mlflow.org, "REST API": `GET /api/2.0/mlflow/model-versions/get` → `{"model_version": {..., "tags": [{key, value}]}}`,
404 with `error_code` RESOURCE_DOES_NOT_EXIST for a missing version). Auth follows the MLflow client's environment
variables: MLFLOW_TRACKING_TOKEN (bearer) or MLFLOW_TRACKING_USERNAME/PASSWORD (basic).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx

from cxops.config import Config
from cxops.errors import CxopsError

TIMEOUT = 5.0


@dataclass(frozen=True)
class VersionTags:
    """What the promotion rules read of a version: its number and its tags."""

    version: str
    tags: dict[str, str]


class RegistryReader:
    """Reads versions of the configured model. Raises CxopsError: "does not exist" (missing) vs "unreachable"."""

    def __init__(self, cfg: Config, start_lab: bool = False) -> None:
        from cxops.registry.tracking import tracking_uri

        self.name = cfg.model.name
        self.uri = tracking_uri(cfg, start_lab=start_lab).rstrip("/")
        if not self.uri.startswith(("http://", "https://")):
            raise CxopsError(f"MLflow at {self.uri} is not an HTTP tracking server; the push check needs one")
        auth: httpx.Auth | None = None
        headers = {}
        if token := os.environ.get("MLFLOW_TRACKING_TOKEN"):
            headers["Authorization"] = f"Bearer {token}"
        elif user := os.environ.get("MLFLOW_TRACKING_USERNAME"):
            auth = httpx.BasicAuth(user, os.environ.get("MLFLOW_TRACKING_PASSWORD", ""))
        self.client = httpx.Client(base_url=self.uri, timeout=TIMEOUT, headers=headers, auth=auth)

    def version(self, version: str) -> VersionTags:
        try:
            resp = self.client.get(
                "/api/2.0/mlflow/model-versions/get", params={"name": self.name, "version": str(version)}
            )
        except httpx.HTTPError as exc:
            raise CxopsError(
                f"MLflow at {self.uri} is unreachable while reading v{version}: {type(exc).__name__}: {exc}"
            ) from None
        body = _json(resp)
        if resp.status_code == 404 or body.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
            raise CxopsError(f"model version {version!r} of {self.name!r} does not exist")
        if resp.status_code != 200 or "model_version" not in body:
            raise CxopsError(
                f"MLflow at {self.uri} answered {resp.status_code} while reading v{version}: "
                f"{body.get('message', resp.text[:200])}"
            )
        mv = body["model_version"]
        return VersionTags(str(mv["version"]), {t["key"]: t.get("value", "") for t in mv.get("tags") or []})


def _json(resp: httpx.Response) -> dict:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
