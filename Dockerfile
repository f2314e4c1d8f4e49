# One image for every Python service of the stack (flow runner, dashboard, MLflow, Prefect, dbt
# docs): the locked environment from uv.lock, so the containers run exactly what CI tests.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    DO_NOT_TRACK=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

# libgomp1: LightGBM / XGBoost threads; curl for health checks; postgresql-client for psql users
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 curl postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir uv

WORKDIR /app
# dependencies first (a layer that survives source edits), then the project itself
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY frycast frycast
COPY warehouse warehouse
COPY ingest ingest
COPY quality quality
COPY ml ml
COPY agents agents
COPY flows flows
COPY bench bench
COPY cli cli
COPY streamlit_app streamlit_app
COPY dbt_project dbt_project
COPY infra infra
RUN uv sync --frozen --no-dev

ENV PATH="/app/.venv/bin:${PATH}"
RUN useradd --create-home --uid 1000 frycast && mkdir -p /app/.warehouse && chown -R frycast /app/.warehouse /app/dbt_project
USER frycast
CMD ["frycast", "--help"]
