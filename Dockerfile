# syntax=docker/dockerfile:1
# One image for every part of an installation; the command picks the part:
#   docker run IMAGE db upgrade        create or upgrade the schema
#   docker run IMAGE scheduler         the scheduler (ORCH_DASK_ADDRESS: a Dask cluster, else a LocalCluster)
#   docker run -p 8080:8080 IMAGE webui   the web UI and REST API
#   docker run --entrypoint tini -e DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION=inf IMAGE -- dask scheduler
#   docker run --entrypoint tini IMAGE -- dask worker tcp://HOST:8786
# Settings are ORCH_* variables (README.md, "Configuration"); helm/orchestrator runs it on Kubernetes.
#
#   docker build -t orchestrator:0.1.0 .
#   docker build --build-arg EXTRAS=name,... .   adds optional dependency groups of pyproject.toml

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: the project and its dependencies in a virtual environment, from the source tree
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY orchestrator ./orchestrator
COPY scheduler ./scheduler
COPY webui ./webui
COPY migrations ./migrations
ARG EXTRAS=""
# a regular (not editable) install: the image does not need the source tree
RUN /opt/venv/bin/pip install ".${EXTRAS:+[$EXTRAS]}"

# -- runtime: the environment, tini as PID 1 (forwards SIGTERM, reaps Dask's and the loader's children), a non-root user
FROM ${PYTHON_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 orchestrator \
 && useradd --system --uid 10001 --gid orchestrator --create-home --home-dir /home/orchestrator \
        --shell /usr/sbin/nologin orchestrator \
 && install -d -o orchestrator -g orchestrator -m 0750 /var/lib/orchestrator
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ORCH_HOME=/var/lib/orchestrator \
    ORCH_WEBUI_HOST=0.0.0.0 \
    ORCH_WEBUI_PORT=8080
# the SQLite file, the generated keys and the default DAG folder ($ORCH_HOME/dags) outlive the container
VOLUME ["/var/lib/orchestrator"]
WORKDIR /var/lib/orchestrator
# numeric, so that Kubernetes' runAsNonRoot can check it; the chart's podSecurityContext uses the same ids
USER 10001:10001
EXPOSE 8080
# healthy when /api/v1/health answers 200: the database answers and a scheduler heartbeats. Only a
# container that runs `webui` serves it: run the others with --no-healthcheck (compose: healthcheck: disable: true).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/v1/health' % os.environ.get('ORCH_WEBUI_PORT', '8080'), timeout=5)"]
ENTRYPOINT ["tini", "--", "orchestrator"]
CMD ["--help"]
