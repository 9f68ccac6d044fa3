"""A read-only view of model versions over MLflow's REST API, for callers that must answer in a second or two.

A git hook runs on every push and must not spend seconds importing the MLflow client (it dominates a push's time
on a busy machine); the two reads the promotion rules need are plain HTTP GETs of MLflow's documented REST API
(mlflow.org, "REST API": `GET /api/2.0/mlflow/model-versions/get` → `{"model_version": {..., "tags": [{key, value}]}}`,
404 with `error_code` RESOURCE_DOES_NOT_EXIST for a missing version). Auth follows the MLflow client's environment
variables: MLFLOW_TRACKING_TOKEN (bearer) or MLFLOW_TRACKING_USERNAME/PASSWORD (basic). The standard library's
urllib does the GET: importing an HTTP client library cost the hook more than the request itself.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from cxops.config import Config
from cxops.errors import CxopsError
from cxops.settings import settings

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
        self.headers = {"Accept": "application/json"}
        env = settings()
        if token := env.mlflow_tracking_token:
            self.headers["Authorization"] = f"Bearer {token}"
        elif user := env.mlflow_tracking_username:
            pair = f"{user}:{env.mlflow_tracking_password or ''}".encode()
            self.headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"

    def version(self, version: str) -> VersionTags:
        query = urllib.parse.urlencode({"name": self.name, "version": str(version)})
        request = urllib.request.Request(f"{self.uri}/api/2.0/mlflow/model-versions/get?{query}", headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
                status, text = resp.status, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:  # an answer, with a 4xx/5xx status
            status, text = exc.code, exc.read().decode("utf-8", "replace")
        except OSError as exc:  # URLError (refused, DNS), timeouts, resets
            reason = getattr(exc, "reason", exc)
            raise CxopsError(
                f"MLflow at {self.uri} is unreachable while reading v{version}: {type(reason).__name__}: {reason}"
            ) from None
        body = _json(text)
        if status == 404 or body.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
            raise CxopsError(f"model version {version!r} of {self.name!r} does not exist")
        if status != 200 or "model_version" not in body:
            raise CxopsError(
                f"MLflow at {self.uri} answered {status} while reading v{version}: {body.get('message', text[:200])}"
            )
        mv = body["model_version"]
        return VersionTags(str(mv["version"]), {t["key"]: t.get("value", "") for t in mv.get("tags") or []})


def _json(text: str) -> dict:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
