# The one tools image every Argo container step runs (`cxops step ...`). Built from the repository root:
#   docker build -f docker/tools.Dockerfile -t <workflows.tools_image> .   (`cxops workflows list` shows it)
# or in the cluster by the `build-initial` WorkflowTemplate. Everything is installed here, at build time:
# the workflows never run pip or apt.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# git + ssh for the GitOps commits (deploy/promote/rollback); versions pinned to Debian bookworm.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git=1:2.39.5-0+deb12u3 openssh-client=1:9.2p1-2+deb12u10 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid 10001 cxops \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/cxops --shell /usr/sbin/nologin cxops

WORKDIR /opt/cxops
# Dependencies first (own layer, cached while only code changes), exactly the locked versions.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

# The model project's own requirements (cxops.yaml model.requirements: exact pins, `cxops config check` refuses
# anything else), passed by build-initial as a build argument: one tools image per model project. Empty for the
# scikit-learn projects, whose requirements are cxops' own.
ARG MODEL_REQUIREMENTS=""
RUN if [ -n "$MODEL_REQUIREMENTS" ]; then \
      printf '%s\n' $MODEL_REQUIREMENTS > /tmp/model-requirements.txt \
      && pip install --no-cache-dir -r /tmp/model-requirements.txt \
      && rm /tmp/model-requirements.txt; \
    fi

COPY pyproject.toml README.md* ./
COPY cxops ./cxops
COPY docker ./docker
# Editable: the package stays in /opt/cxops beside docker/serving.Dockerfile, which the build step copies.
RUN pip install --no-cache-dir --no-deps -e . \
    && cxops --version

# The config is baked in (rebuild with `build-initial` after changing it); the state dir beside it is the
# user's own, so steps can write there (the build step's image context, git work trees).
COPY cxops.yaml /home/cxops/cxops.yaml
ENV CXOPS_CONFIG=/home/cxops/cxops.yaml
USER 10001:10001
WORKDIR /home/cxops
ENTRYPOINT ["cxops"]
CMD ["--help"]
