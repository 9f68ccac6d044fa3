"""Argo Server REST API: submit a WorkflowTemplate, list templates. Bounded retries; the token is never shown."""

from __future__ import annotations

from typing import Any

from cxops.config.schema import Config
from cxops.errors import CxopsError, UsageError
from cxops.settings import settings

TOKEN_ENV = "ARGO_TOKEN"
ATTEMPTS = 4
TIMEOUT_SECONDS = 30.0


def parse_params(pairs: list[str]) -> list[str]:
    """`k=v` strings as the API wants them; reject anything else early with the bad value named."""
    for p in pairs:
        key, sep, _ = p.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {p!r} must look like NAME=VALUE, e.g. --param version=3")
    return list(pairs)


def _headers() -> dict[str, str]:
    token = settings().argo_token or ""
    if not token:
        return {}
    # `argo auth token` prints "Bearer ..."; a bare service-account token is accepted too
    return {"Authorization": token if token.lower().startswith("bearer ") else f"Bearer {token}"}


class ArgoServer:
    def __init__(self, cfg: Config, transport: Any = None) -> None:
        if not cfg.workflows.argo_server:
            raise CxopsError(
                "no cluster configured: set workflows.argo_server in cxops.yaml "
                "(e.g. https://argo-server.argo.svc:2746) and export ARGO_TOKEN"
            )
        self.base = cfg.workflows.argo_server.rstrip("/")
        self.namespace = cfg.workflows.namespace
        self.transport = transport

    def _request(self, method: str, path: str, body: dict | None = None) -> Any:
        import httpx

        from cxops.waiting import retry

        def call() -> Any:
            with httpx.Client(
                base_url=self.base, headers=_headers(), timeout=TIMEOUT_SECONDS, transport=self.transport
            ) as client:
                resp = client.request(method, path, json=body)
            if resp.status_code >= 500:
                resp.raise_for_status()  # transient: retried
            if resp.status_code in (401, 403):
                raise CxopsError(
                    f"Argo Server at {self.base} refused the request ({resp.status_code}): "
                    f"export a valid token in {TOKEN_ENV}"
                )
            if resp.status_code >= 400:
                raise CxopsError(
                    f"Argo Server at {self.base} answered {resp.status_code} to {method} {path}: {_message(resp)}"
                )
            return resp.json()

        return retry(
            call,
            attempts=ATTEMPTS,
            what=f"{method} {self.base}{path}",
            retry_on=(httpx.TransportError, httpx.HTTPStatusError),
        )

    def submit(self, template: str, params: list[str]) -> str:
        body = {
            "resourceKind": "WorkflowTemplate",
            "resourceName": template,
            "submitOptions": {"parameters": parse_params(params)},
        }
        wf = self._request("POST", f"/api/v1/workflows/{self.namespace}/submit", body)
        return wf.get("metadata", {}).get("name", "")

    def templates(self) -> list[str]:
        data = self._request("GET", f"/api/v1/workflow-templates/{self.namespace}")
        return sorted(item["metadata"]["name"] for item in data.get("items") or [])


def _message(resp: Any) -> str:
    try:
        return str(resp.json().get("message", ""))[:300]
    except ValueError:
        return resp.text[:300]
