"""Read-only HTTP API over the GPU cache, for dashboards (`cxops cloud gpus serve`; OpenAPI at /openapi.json)."""

from __future__ import annotations

import contextlib
import threading

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from cxops.cloud.gpu_cache import GpuCache


class FlavorCapacity(BaseModel):
    flavor: str = Field(description="flavor name")
    source: str = Field(description="'aggregate' (host aggregates + PCI alias) or 'placement' (resource class)")
    gpu_type: str = Field(description="PCI alias name (e.g. V100) or Placement resource class (e.g. VGPU)")
    gpus_per_instance: int
    total: int = Field(description="instances of this flavor the GPU hosts hold when empty")
    available: int = Field(description="instances of this flavor that fit now")
    hosts: list[str] = Field(description="hosts / resource providers counted")


class Report(BaseModel):
    cloud: str
    measured_at: str = Field(description="UTC time of the measurement")
    age_seconds: float
    flavors: list[FlavorCapacity]
    warnings: list[str]


class Health(BaseModel):
    status: str
    measured_at: str | None
    age_seconds: float | None
    last_error: str | None


def create_app(cache: GpuCache, refresh_seconds: float = 150) -> FastAPI:
    stop = threading.Event()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        cache.measure()  # serve nothing stale or empty: the first answer is a real measurement
        worker = threading.Thread(target=cache.refresh_forever, args=(refresh_seconds, stop), daemon=True)
        worker.start()
        yield
        stop.set()

    app = FastAPI(
        title="cxops GPU capacity",
        version="1",
        lifespan=lifespan,
        description="GPU flavors of an OpenStack cloud: total and available instances, from host "
        "aggregates + PCI aliases and from Placement. Read-only; refreshed in the background.",
    )

    def report() -> Report:
        data, age = cache.latest()
        if data is None:
            raise HTTPException(503, "no measurement yet")
        return Report(**{**data, "age_seconds": round(age, 1)})

    @app.get("/health", response_model=Health, summary="Liveness and the age of the last measurement")
    def health() -> Health:
        data, age = cache.latest()
        return Health(
            status="ok" if data and not cache.last_error else "degraded",
            measured_at=data["measured_at"] if data else None,
            age_seconds=round(age, 1) if data else None,
            last_error=cache.last_error,
        )

    @app.get("/v1/gpus", response_model=Report, summary="The whole capacity report")
    def gpus() -> Report:
        return report()

    @app.get("/v1/gpus/flavors", response_model=list[FlavorCapacity], summary="Capacity of every GPU flavor")
    def flavors() -> list[FlavorCapacity]:
        return report().flavors

    @app.get(
        "/v1/gpus/flavors/{name}",
        response_model=list[FlavorCapacity],
        summary="Capacity of one flavor (one row per source)",
        responses={404: {"description": "no such GPU flavor"}},
    )
    def flavor(name: str) -> list[FlavorCapacity]:
        rows = [f for f in report().flavors if f.flavor == name]
        if not rows:
            known = ", ".join(sorted({f.flavor for f in report().flavors})) or "none"
            raise HTTPException(404, f"no GPU flavor {name!r}; GPU flavors: {known}")
        return rows

    return app
