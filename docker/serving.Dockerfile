# Serving image for one model version. Build context = a cxops build's context (.cxops/builds/<model>/<version>/context):
#   model/ (the MLflow model as logged, any flavor), fast/ (verified linear export + probe, may be empty),
#   version.json, manifest.json (sha256 of what the server reads), golden.json, requirements-serving.txt (the
#   server's pins plus exactly the model's own pinned requirements), cxops/ (serving package only).
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --no-create-home app

WORKDIR /app
COPY requirements-serving.txt /app/requirements-serving.txt
# Dependencies are installed at build time, pinned; nothing is installed when the container runs.
RUN pip install --no-cache-dir -r /app/requirements-serving.txt

COPY cxops /app/cxops
COPY model /srv/model/model
COPY fast /srv/model/fast
COPY version.json manifest.json golden.json /srv/model/

USER 10001:10001
EXPOSE 8080
HEALTHCHECK NONE
CMD ["python", "-m", "cxops.serving", "--model-dir", "/srv/model", "--host", "0.0.0.0", "--port", "8080"]
