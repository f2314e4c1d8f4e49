"""MLflow tracking: every forecasting run's parameters, metrics per level, feature importances,
calibration and selection, and the global model registered; the ``champion`` alias names the
latest published run's model."""

from __future__ import annotations

import json
import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pandas as pd

from frycast.settings import kept_environ

log = logging.getLogger(__name__)

REGISTERED_MODEL = "frycast-global-model"
CHAMPION_ALIAS = "champion"


def warehouse_tracking_uri(warehouse_url: str, schema: str = "mlflow") -> str:
    """The warehouse's Postgres as MLflow's tracking store, in its own schema (psycopg 3 driver)."""
    parts = urlsplit(warehouse_url)
    scheme = "postgresql+psycopg"
    option = "options=" + quote(f"-csearch_path={schema}", safe="")
    query = f"{parts.query}&{option}" if parts.query else option
    return urlunsplit((scheme, parts.netloc, parts.path, query, ""))


def _location(uri: str) -> str:
    """An artifact location as MLflow stores it: local paths as file:// URIs, no trailing /."""
    if "://" not in uri and not uri.startswith("file:"):
        uri = Path(uri).resolve().as_uri()
    return uri.rstrip("/")


class Tracker:
    """A thin wrapper so the engine's callers log the same things the same way."""

    def __init__(self, tracking_uri: str, experiment: str, artifact_root: str) -> None:
        import mlflow

        self.mlflow = mlflow
        # MLflow exports the URIs it is given as MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI, which
        # frycast's settings read as the user's choice: the next run in this process (another
        # warehouse) would then track into this one. Keep the environment as the user left it.
        with kept_environ(("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")):
            mlflow.set_tracking_uri(tracking_uri)
            mlflow.set_registry_uri(tracking_uri)  # the registry lives in the same store
        client = mlflow.MlflowClient()
        exp = client.get_experiment_by_name(experiment)
        if exp is not None and _location(exp.artifact_location) != _location(artifact_root):
            # An experiment's artifact location is fixed when it is created (MLflow cannot move
            # it), so runs whose artifacts go elsewhere (say, local → MinIO) are tracked in a
            # sibling experiment named after the location; switching back returns to the first.
            sibling = f"{experiment} [{artifact_root}]"
            log.warning(
                "MLflow experiment %r keeps its artifacts in %s; runs with artifacts in %s are "
                "tracked in experiment %r (FRYCAST_MLFLOW_EXPERIMENT chooses another name)",
                experiment,
                exp.artifact_location,
                artifact_root,
                sibling,
            )
            experiment = sibling
            exp = client.get_experiment_by_name(experiment)
        if exp is None:
            client.create_experiment(experiment, artifact_location=artifact_root)
        mlflow.set_experiment(experiment)
        self.client = client
        self.experiment = experiment

    @contextmanager
    def run(self, name: str, tags: dict | None = None, nested: bool = False):
        with self.mlflow.start_run(run_name=name, tags=tags or {}, nested=nested) as run:
            yield run

    def log_config(self, config: dict) -> None:
        flat = {
            k: json.dumps(v) if isinstance(v, dict | list | tuple) else v for k, v in config.items()
        }
        self.mlflow.log_params({k: str(v)[:500] for k, v in flat.items()})

    def log_engine(self, result) -> None:
        """Metrics per model and level (backtest means), coverage, timings, tables as artifacts."""
        metrics = {}
        grouped = result.metrics.groupby(["model", "level"])[
            ["mase", "smape", "wql", "coverage_80"]
        ].mean()
        for (model, level), row in grouped.iterrows():
            for col, value in row.items():
                if pd.notna(value):
                    metrics[f"{model}.{level}.{col}"] = float(value)
        for model, secs in result.backtest.seconds.items():
            metrics[f"{model}.backtest_seconds"] = float(secs)
        for model, n in result.summary["models_chosen"].items():
            metrics[f"selected.{model}.n_series"] = float(n)
        for model, fell in result.summary.get("fallbacks", {}).items():
            metrics[f"{model}.failed_share"] = float(fell["failed_share"])
            metrics[f"{model}.final_failures"] = float(sum(fell["final"].values()))
        metrics |= training_metrics(result.summary.get("training", {}))
        if folds := result.summary.get("folds_used"):
            metrics["backtest.folds_used"] = float(folds["used"])
        self.mlflow.log_metrics(metrics)
        self.mlflow.set_tag("default_model", result.summary["default_model"])
        if evaluation := result.summary.get("evaluation"):  # are the scores above out of sample
            self.mlflow.set_tag("out_of_sample", str(evaluation["out_of_sample"]).lower())
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            result.selection.to_csv(d / "model_selection.csv", index=False)
            result.calibration.to_csv(d / "interval_calibration.csv", index=False)
            (d / "summary.json").write_text(json.dumps(result.summary, indent=2, default=str))
            for name, model in result.fitted.items():
                if hasattr(model, "feature_importance"):
                    imp = model.feature_importance()
                    (d / f"feature_importance_{name}.json").write_text(json.dumps(imp, indent=2))
                    self.mlflow.log_metrics(
                        {f"{name}.importance.{k}": float(v) for k, v in imp.items()}
                    )
            self.mlflow.log_artifacts(str(d), artifact_path="engine")

    def log_aggregate_training(self, aggregate) -> None:
        """The aggregate levels' engine's network fits (a hierarchical run fits them apart)."""
        metrics = training_metrics(aggregate.summary.get("training", {}), "aggregate.")
        if metrics:
            self.mlflow.log_metrics(metrics)

    def log_reconciliation(self, summary: dict) -> None:
        """Backtest MASE and 80% coverage per level, before and after reconciliation."""
        metrics = {"reconcile.coherence_error": float(summary["coherence_error"])}
        for level, values in summary["levels"].items():
            for key, value in values.items():
                if key != "nodes" and value == value:  # skip NaN
                    metrics[f"reconcile.{level}.{key}"] = float(value)
        self.mlflow.log_metrics(metrics)
        self.mlflow.set_tag("reconciler", summary["reconciler"])
        self.mlflow.set_tag("reconciler_used", summary.get("reconciler_used", ""))

    def register_model(self, model) -> str | None:
        """Log a fitted global model and register it; its version becomes the ``champion`` only
        when the run is published (:func:`set_champion`), so an unpublished run never is."""
        from ml.models import NEURAL_MODELS
        from ml.models.gbm import LightGBMGlobal, XGBoostGlobal

        if isinstance(model, LightGBMGlobal):
            info = self.mlflow.lightgbm.log_model(
                model.model_, name="global_model", pip_requirements=["lightgbm"]
            )
        elif isinstance(model, XGBoostGlobal):
            info = self.mlflow.xgboost.log_model(
                model.model_, name="global_model", pip_requirements=["xgboost"]
            )
        elif model.name in NEURAL_MODELS and getattr(model, "net_", None) is not None:
            import mlflow.pytorch

            # MLflow 3 defaults to "pt2" (torch.export), which traces forward() on an example of
            # tensors; a pytorch-forecasting network takes a dict of them: pickled instead
            # (mlflow.pytorch.log_model's serialization_format, MLflow 3.x docstring)
            info = mlflow.pytorch.log_model(
                model.net_,
                name="global_model",
                serialization_format="pickle",
                pip_requirements=["torch==2.13.0+cpu", "pytorch-forecasting>=1.8,<2"],
            )
        else:
            return None
        version = self.mlflow.register_model(info.model_uri, REGISTERED_MODEL)
        self.client.set_model_version_tag(REGISTERED_MODEL, version.version, "model", model.name)
        return str(version.version)


def training_metrics(training: dict, prefix: str = "") -> dict[str, float]:
    """Every network fit's wall time, steps, validation loss and windows, fold by fold."""
    metrics = {}
    for model, fits in training.items():
        for kind, records in fits.items():
            for k, rec in enumerate(records):
                tag = f"fold{rec['fold']}" if "fold" in rec else f"final{k}"
                for key in ("fit_seconds", "steps", "val_loss", "training_windows"):
                    if rec.get(key) is not None:
                        metrics[f"{prefix}{model}.{kind}.{tag}.{key}"] = float(rec[key])
    return metrics


def set_champion(tracking_uri: str, version: str) -> None:
    """Point the ``champion`` alias at ``version`` (the publish step's job). A client of its own:
    ``mlflow.set_tracking_uri`` would change the process's global tracking target."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS, str(version))
