# frycast — the commands a user and CI run. Everything goes through uv and the locked environment.
SHELL := /bin/bash
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export PREFECT_SERVER_ANALYTICS_ENABLED := false
UV ?= uv
RUN := $(UV) run --frozen
TIER ?= demo
comma := ,
LONDON := ../shared/data/london_takeaway

.PHONY: up down logs stack-config help setup setup-neural test-neural warehouse warehouse-down seed import-london build demo test lint format docs ui prefect-ui serve bench-load bench-import bench-accuracy bench-drivers bench-reconcile bench-overrides bench-write bench-ui bench-pipeline bench-peer bench-distributed bench

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

setup:  ## install the locked environment (.venv) with uv
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	$(UV) sync --frozen

setup-neural:  ## the same, plus the optional LSTM/TFT extra (CPU torch; see README: LSTM and TFT)
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	$(UV) sync --frozen --extra neural

warehouse: setup  ## start the warehouse (embedded unless DATABASE_URL is set) and print its URL
	$(RUN) frycast warehouse up

warehouse-down:  ## stop the embedded warehouse
	$(RUN) frycast warehouse down

seed: setup  ## generate and load a synthetic chain: make seed TIER=demo|medium|chain
	$(RUN) frycast seed --tier $(TIER)

import-london: setup  ## import the real London takeaway order export
	$(RUN) frycast import orders $(LONDON)/restaurant-1-orders.csv \
	  --restaurant "London Takeaway" --region London --city London \
	  --prices $(LONDON)/restaurant-1-products-price.csv

build: setup  ## dbt build: staging, intermediate, features, marts and all dbt tests
	$(RUN) frycast build

demo: setup  ## set up, start the warehouse and the Prefect UI, seed the demo tier, import London, run the whole pipeline
	$(RUN) frycast warehouse up
	@# the Prefect UI first, so the demo's runs land in it (a demo without it still runs)
	-$(RUN) frycast prefect-server --background
	$(RUN) frycast seed --tier demo
	@if [ -d $(LONDON) ]; then $(MAKE) --no-print-directory import-london; fi
	$(RUN) frycast run
	@# the London orders end in 2019, long before the demo chain's data: forecast alone, from their own last day
	@if [ -d $(LONDON) ]; then $(RUN) frycast forecast --restaurant london-takeaway; fi
	$(RUN) frycast drift
	$(RUN) frycast summary
	@echo
	@echo "Where to look:"
	@echo "  SQL:        psql \"$$($(RUN) frycast warehouse up --login reader)\" -c \"select level, node_key, forecast_date, round(yhat) as units, round(yhat_lo80) as low_80, round(yhat_hi80) as high_80 from marts.fct_forecast where level = 'chain' order by forecast_date limit 10\""
	@echo "  accuracy:   ... -c 'select level, model, round(avg(mase)::numeric, 3) as mase from marts.fct_forecast_accuracy where published group by 1, 2 order by 1, 3'"
	@echo "  runs:       ... -c 'select run_id, status, published, history_end from forecast.forecast_runs'"
	@echo "  dashboard:  make ui   (http://127.0.0.1:8501)"
	@echo "  Prefect UI: http://127.0.0.1:4200 (running: the demo's runs, their steps, logs and progress; make prefect-ui after a restart, frycast prefect-server --stop to stop it)"
	@if [ -d $(LONDON) ]; then echo "  real data:  London Takeaway (orders to Aug 2019), forecast alone from its own last day: dashboard Explorer, level restaurant, search London"; fi
	@echo "  dbt docs:   make docs   (http://127.0.0.1:8080)"
	@echo "  MLflow:     uv run frycast mlflow-ui   (http://127.0.0.1:5000)"

test: setup  ## the test suite (real PostgreSQL: DATABASE_URL's server, or the embedded one)
	$(RUN) pytest -q
	$(MAKE) --no-print-directory test-neural

test-neural: setup-neural  ## the LSTM/TFT tests, with the neural extra installed (make test runs them)
	$(RUN) --extra neural pytest -q -m neural

up: .env  ## the full stack in Docker (warehouse, MinIO, MLflow, Prefect, runner, dashboard, docs)
	docker compose up -d --build
	@echo "Prefect UI http://127.0.0.1:4200  dashboard http://127.0.0.1:8501  dbt docs http://127.0.0.1:8080"
	@echo "MLflow http://127.0.0.1:5000  MinIO console http://127.0.0.1:9001  warehouse 127.0.0.1:5432"

down:  ## stop the stack (named volumes, so the data, are kept; `docker compose down -v` drops them)
	docker compose down

logs:  ## follow the stack's logs
	docker compose logs -f --tail=100

.env:
	cp .env.example .env

stack-config:  ## validate docker-compose.yml (installs the compose CLI plugin if missing)
	@bash infra/install-compose-plugin.sh >/dev/null
	@if command -v docker >/dev/null; then docker compose config --quiet; \
	  else "$${DOCKER_CONFIG:-$$HOME/.docker}/cli-plugins/docker-compose" config --quiet; fi
	@echo "docker-compose.yml: valid"

lint: stack-config  ## ruff (format + check), sqlfluff on the dbt models, dbt parse, docker-compose.yml
	$(RUN) ruff format --check .
	$(RUN) ruff check .
	$(RUN) sqlfluff lint dbt_project
	$(RUN) dbt parse --project-dir dbt_project --profiles-dir dbt_project --quiet

format:  ## apply ruff formatting and fixes
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

docs: setup  ## generate and serve the dbt docs site on http://127.0.0.1:8080
	$(RUN) frycast docs --port 8080

ui: setup  ## the Streamlit dashboard on http://127.0.0.1:8501 (reads the marts)
	$(RUN) frycast ui

prefect-ui: setup  ## a local Prefect server + UI on http://127.0.0.1:4200 (state on the warehouse's Postgres, or SQLite under .warehouse/)
	$(RUN) frycast prefect-server

serve: setup  ## register and serve the deployments (weekly pipeline, nightly drift check)
	PREFECT_API_URL=$${PREFECT_API_URL:-http://127.0.0.1:4200/api} $(RUN) frycast serve

bench-load: setup  ## load benchmark: medium and chain tiers vs plain COPY (slow; not in CI)
	$(RUN) frycast bench load --tier medium --tier chain

bench-import: setup  ## import a 100 MB daily file and a 100 MB order export: time, peak RSS (<= 500 MB)
	$(RUN) frycast bench import

bench-accuracy: setup-neural  ## accuracy: frycast vs statsforecast and mlforecast peers on held-out days (London, demo, a closing chain), and LSTM and TFT alone beside LightGBM and AutoETS (installs the neural extra)
	$(RUN) --extra neural frycast bench accuracy --dataset london --dataset demo --dataset closing

bench-drivers: setup  ## the drivers' (TreeSHAP) cost beside LightGBM's prediction, medium tier
	$(RUN) frycast bench drivers --tier medium

bench-reconcile: setup  ## reconciliation at 10k / 20k / 100k bottom series vs hierarchicalforecast
	$(RUN) frycast bench reconcile --size 10k --size 20k --size 100k

bench-write: setup  ## the forecast write (8 M rows): partitioned, as before, and a plain COPY of the same rows
	$(RUN) frycast bench write --nodes 11000

bench-overrides: setup  ## 1,000 planners' overrides applied at the medium tier's size, beside the plain reconciliation
	$(RUN) frycast bench overrides --restaurants 100 --n 1000

bench-ui: setup  ## dashboard page load times in headless Chromium (after a warm-up)
	$(RUN) frycast bench ui

bench-pipeline: setup  ## the whole pipeline, stage by stage (time, peak memory): make bench-pipeline TIER=chain
	$(RUN) frycast bench pipeline --tier $(TIER) $(if $(filter chain,$(TIER)),--folds 2 --models snaive$(comma)weekday_mean$(comma)lightgbm)

bench-peer: setup  ## frycast vs statsforecast AutoETS + hierarchicalforecast MinT-shrink (medium tier, ~1 h)
	$(RUN) frycast bench peer --tier medium --holdout 91

bench-distributed: setup  ## the engine serially and on 1 and 2 local Dask workers (demo tier)
	$(RUN) frycast bench distributed --tier demo --folds 2 --models snaive$(comma)weekday_mean$(comma)ets$(comma)theta$(comma)lightgbm

bench: bench-pipeline bench-peer bench-distributed bench-load bench-import bench-accuracy bench-reconcile bench-overrides bench-ui  ## every benchmark (speed and memory targets live here, not in tests)
