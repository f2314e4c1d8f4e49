"""LSTM and TFT as global models over every series (the optional ``neural`` extra).

Both read the same inputs as the GBMs, as pytorch-forecasting's ``TimeSeriesDataSet`` takes them:
the series' past sales (encoder), what is known ahead for every forecast day (calendar, holidays,
events, planned discounts, the price against its usual level) and what never changes (restaurant,
SKU, product group, region). Both are direct multi-horizon: one pass predicts every day to the
run's horizon, with no forecast fed back as an input, and a negative binomial output per day (a
count distribution): its mean is the point the engine serves, as the GBMs' Tweedie point is a
mean (a quantile loss's median was tried first: on London's intermittent items it forecast 0 and
scored a fine MASE at −36 to −61 % bias); its 0.1 / 0.5 / 0.9 quantiles are kept beside it. The
served band is calibrated from backtest residuals, as every model's is, so the models' coverage
is compared on one footing.

- ``tft``: pytorch-forecasting's Temporal Fusion Transformer (Lim et al. 2021).
- ``lstm``: an LSTM encoder whose state starts an LSTM decoder over the known inputs: the TFT
  without its variable selection and attention, written on pytorch-forecasting's
  ``BaseModelWithCovariates`` as its "implementing new architectures" tutorial shows (its own
  ``RecurrentNetwork`` and ``DeepAR`` feed their forecasts back day by day: not direct).

Training is bounded (``NeuralBudget``: steps, minutes, early stopping on the last days before the
origin), seeded and deterministic on CPU. Importing this module imports torch: ``build_model``
imports it only when a neural model is asked for, and says how to install the extra when it is
missing.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_forecasting import TemporalFusionTransformer, TimeSeriesDataSet
from pytorch_forecasting.data import EncoderNormalizer, NaNLabelEncoder
from pytorch_forecasting.metrics import NegativeBinomialDistributionLoss
from pytorch_forecasting.models.base import BaseModelWithCovariates
from pytorch_forecasting.models.nn import MultiEmbedding, get_rnn
from scipy import stats
from torch import nn

from ml.metrics import seasonal_naive_scale
from ml.models.base import NO_HISTORY, Forecaster
from ml.panel import Panel, fill_closed_days

log = logging.getLogger(__name__)

QUANTILES = (0.1, 0.5, 0.9)
STATIC = ("restaurant_id", "sku_id", "product_group", "region")
# known ahead, from the panel (ml.panel.KNOWN_COLUMNS); the price is read as a ratio to its level
KNOWN_REALS = (
    "doy_sin",
    "doy_cos",
    "is_weekend",
    "is_holiday",
    "days_to_next_holiday",
    "days_since_last_holiday",
    "is_event",
    "days_to_next_event",
    "days_since_last_event",
    "discount_pct",
)
SHORT = "fewer days of history than the encoder needs"


@dataclass(frozen=True)
class NeuralBudget:
    """How much one fit may cost (settings: ``FRYCAST_NEURAL_*``). Training stops at the first of
    ``max_steps`` optimiser steps, ``max_minutes`` of wall time, or ``patience`` validations
    without improvement on the last ``val_days`` before the origin; the best validated weights
    are kept."""

    max_steps: int = 200
    max_minutes: float = 10.0
    batch_size: int = 64
    val_every: int = 50  # steps between validations
    patience: int = 3
    val_days: int = 56
    encoder_days: int = 56
    min_encoder_days: int = 14
    hidden_size: int = 16
    learning_rate: float = 0.003
    dropout: float = 0.1

    @classmethod
    def from_params(cls, params: dict | None) -> NeuralBudget:
        known = {k: v for k, v in (params or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)


class DirectLSTM(BaseModelWithCovariates):
    """LSTM encoder → LSTM decoder over the known inputs → a distribution's parameters per day."""

    def __init__(
        self,
        hidden_size: int = 16,
        rnn_layers: int = 1,
        dropout: float = 0.1,
        static_categoricals: list[str] | None = None,
        static_reals: list[str] | None = None,
        time_varying_categoricals_encoder: list[str] | None = None,
        time_varying_categoricals_decoder: list[str] | None = None,
        categorical_groups: dict[str, list[str]] | None = None,
        time_varying_reals_encoder: list[str] | None = None,
        time_varying_reals_decoder: list[str] | None = None,
        embedding_sizes: dict[str, tuple[int, int]] | None = None,
        embedding_paddings: list[str] | None = None,
        embedding_labels: dict[str, np.ndarray] | None = None,
        x_reals: list[str] | None = None,
        x_categoricals: list[str] | None = None,
        output_size: int = 2,  # the negative binomial's mean and shape
        target: str | None = None,
        loss=None,
        logging_metrics: nn.ModuleList | None = None,
        **kwargs,
    ) -> None:
        # the base class reads these lists from hparams: save them as they are, [] for None
        static_categoricals = static_categoricals or []
        static_reals = static_reals or []
        time_varying_categoricals_encoder = time_varying_categoricals_encoder or []
        time_varying_categoricals_decoder = time_varying_categoricals_decoder or []
        categorical_groups = categorical_groups or {}
        time_varying_reals_encoder = time_varying_reals_encoder or []
        time_varying_reals_decoder = time_varying_reals_decoder or []
        embedding_sizes = embedding_sizes or {}
        embedding_paddings = embedding_paddings or []
        embedding_labels = embedding_labels or {}
        x_reals = x_reals or []
        x_categoricals = x_categoricals or []
        self.save_hyperparameters(ignore=["loss", "logging_metrics"])
        super().__init__(
            loss=loss or NegativeBinomialDistributionLoss(),
            logging_metrics=logging_metrics or nn.ModuleList([]),
            **kwargs,
        )
        self.embeddings = MultiEmbedding(
            embedding_sizes=embedding_sizes,
            embedding_paddings=embedding_paddings,
            categorical_groups=categorical_groups,
            x_categoricals=x_categoricals,
        )
        cats = sum(self.embeddings.output_size.values())
        rnn = get_rnn("LSTM")  # packs padded sequences (encoders of different lengths)
        drop = dropout if rnn_layers > 1 else 0.0
        self.encoder = rnn(len(self.reals) + cats, hidden_size, rnn_layers, batch_first=True,
                           dropout=drop)  # fmt: skip
        self.decoder = rnn(len(self.decoder_reals_positions) + cats, hidden_size, rnn_layers,
                           batch_first=True, dropout=drop)  # fmt: skip
        self.head = nn.Linear(hidden_size, output_size)

    @property
    def decoder_reals_positions(self) -> list[int]:
        """The reals a forecast day knows: known-ahead and static (never the target)."""
        known = set(self.decoder_variables + self.static_variables)
        return [self.hparams.x_reals.index(n) for n in self.reals if n in known]

    def forward(self, x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        enc = torch.cat([x["encoder_cont"], *self.embeddings(x["encoder_cat"]).values()], dim=-1)
        _, state = self.encoder(enc, lengths=x["encoder_lengths"], enforce_sorted=False)
        dec = torch.cat(
            [
                x["decoder_cont"][..., self.decoder_reals_positions],
                *self.embeddings(x["decoder_cat"]).values(),
            ],
            dim=-1,
        )
        out, _ = self.decoder(dec, state, lengths=x["decoder_lengths"], enforce_sorted=False)
        prediction = self.transform_output(self.head(out), target_scale=x["target_scale"])
        return self.to_network_output(prediction=prediction)

    @classmethod
    def from_dataset(cls, dataset: TimeSeriesDataSet, **kwargs):
        default = NegativeBinomialDistributionLoss()
        kwargs.update(cls.deduce_default_output_parameters(dataset, kwargs, default))
        return super().from_dataset(dataset, **kwargs)


class NeuralGlobal(Forecaster):
    """``lstm`` or ``tft``: one network over every series of the panel it is fitted on."""

    is_global = True
    uses_known_features = True

    def __init__(
        self,
        name: str,
        params: dict | None = None,
        *,
        max_horizon: int = 365,
        seed: int = 0,
        n_jobs: int = 2,
    ) -> None:
        if name not in ("lstm", "tft"):
            raise ValueError(f"unknown neural model {name!r}")
        self.name, self.budget = name, NeuralBudget.from_params(params)
        self.max_horizon, self.seed, self.n_jobs = max_horizon, seed, n_jobs
        self.training_log: dict = {}

    def params(self) -> dict:
        return {**asdict(self.budget), "max_horizon": self.max_horizon, "seed": self.seed}

    # -- fit -------------------------------------------------------------------------------
    def fit(self, panel: Panel) -> NeuralGlobal:
        self._panel, self.net_, self._short = panel, None, None
        b, h = self.budget, self.max_horizon
        started = time.perf_counter()
        frame = long_frame(panel, h)
        origin = len(panel.dates) - 1
        history = frame[frame["time_idx"] <= origin]
        # early stopping watches the last val_days before the origin, where they leave training
        # windows of a useful length; else the step and time budgets alone stop it
        val_days = min(b.val_days, h)
        cutoff = origin - val_days
        validate = cutoff + 1 >= b.encoder_days + val_days
        train_rows = history[history["time_idx"] <= cutoff] if validate else history
        sizes = train_rows.groupby("series", observed=True).size()
        if sizes.empty or sizes.max() < b.min_encoder_days + 1:
            self._short = f"{len(panel.dates)} days of history: the encoder needs more"
            return self
        with _quiet():
            seed_everything(self.seed, workers=True, verbose=False)
            torch.set_num_threads(max(1, self.n_jobs))
            self.dataset_ = dataset(train_rows, b, h)
            train_dl = self.dataset_.to_dataloader(
                train=True, batch_size=b.batch_size, num_workers=0
            )
            val_dl = None
            if validate:
                val = TimeSeriesDataSet.from_dataset(
                    self.dataset_,
                    history,
                    predict=True,
                    min_prediction_length=val_days,
                    max_prediction_length=val_days,
                )
                val_dl = val.to_dataloader(train=False, batch_size=b.batch_size * 4, num_workers=0)
            self.net_ = self._network(self.dataset_)
            with tempfile.TemporaryDirectory() as tmp:
                callbacks = []
                if val_dl is not None:
                    stop = EarlyStopping(monitor="val_loss", patience=b.patience, mode="min")
                    best = ModelCheckpoint(dirpath=tmp, monitor="val_loss", save_top_k=1)
                    callbacks = [stop, best]
                every = min(b.val_every, b.max_steps)
                trainer = Trainer(
                    accelerator="cpu",
                    devices=1,
                    max_epochs=math.ceil(b.max_steps / every),
                    max_steps=b.max_steps,
                    # an "epoch" is `every` steps: validation (and early stopping) after each
                    limit_train_batches=every,
                    max_time={"seconds": int(b.max_minutes * 60)},
                    gradient_clip_val=0.1,
                    deterministic=True,
                    logger=False,
                    enable_progress_bar=False,
                    enable_model_summary=False,
                    enable_checkpointing=bool(callbacks),
                    num_sanity_val_steps=0,
                    callbacks=callbacks,
                    default_root_dir=tmp,
                )
                trainer.fit(self.net_, train_dl, val_dl)
                best_loss = None
                if callbacks and best.best_model_path:
                    state = torch.load(best.best_model_path, weights_only=False)["state_dict"]
                    self.net_.load_state_dict(state)
                    best_loss = float(best.best_model_score)
            stopped = (
                "early stopping"
                if callbacks and stop.stopped_epoch > 0
                else "step budget"
                if trainer.global_step >= b.max_steps
                else "time limit"
            )
        self.training_log = {
            "fit_seconds": round(time.perf_counter() - started, 2),
            "steps": int(trainer.global_step),
            "validations": int(trainer.current_epoch),
            "stopped_by": stopped,
            "val_loss": best_loss,
            "series": int(frame["series"].nunique()),
            "training_windows": len(self.dataset_),
            "n_parameters": sum(p.numel() for p in self.net_.parameters()),
        }
        # predict() reads the last encoder window and the horizon only: keep those rows, not the
        # whole history (the network's normaliser reads the encoder window alone)
        self._frame = frame[frame["time_idx"] > origin - b.encoder_days].copy()
        return self

    def _network(self, ds: TimeSeriesDataSet):
        b = self.budget
        common = {
            "learning_rate": b.learning_rate,
            "dropout": b.dropout,
            "loss": NegativeBinomialDistributionLoss(),
            "logging_metrics": nn.ModuleList([]),
        }
        if self.name == "tft":
            return TemporalFusionTransformer.from_dataset(
                ds,
                hidden_size=b.hidden_size,
                attention_head_size=2,
                hidden_continuous_size=max(4, b.hidden_size // 2),
                log_interval=-1,
                reduce_on_plateau_patience=1000,  # the step budget decides, not a schedule
                **common,
            )
        return DirectLSTM.from_dataset(ds, hidden_size=b.hidden_size, **common)

    # -- predict ---------------------------------------------------------------------------
    def predict(self, h: int) -> np.ndarray:
        n = self._panel.n_series
        out = np.full((n, h), np.nan)
        unseen = self._panel.first_observed() >= len(self._panel.dates)
        if self._short or self.net_ is None:
            counts = {NO_HISTORY: int(unseen.sum()), self._short or SHORT: int((~unseen).sum())}
            self.failures = {why: k for why, k in counts.items() if k}
            return out
        frame = self._frame
        last = len(self._panel.dates) - 1 + h
        with _quiet():
            pred_ds = TimeSeriesDataSet.from_dataset(
                self.dataset_,
                frame[frame["time_idx"] <= last],
                predict=True,
                max_prediction_length=h,
                min_prediction_length=h,
            )
            dl = pred_ds.to_dataloader(train=False, batch_size=self.budget.batch_size * 4,
                                       num_workers=0)  # fmt: skip
            res = self.net_.predict(
                dl,
                mode="raw",
                return_index=True,
                trainer_kwargs={
                    "accelerator": "cpu",
                    "logger": False,
                    "enable_progress_bar": False,
                    "enable_model_summary": False,
                },
            )
        # the negative binomial's mean and shape per series and day (rescaled to units)
        params = res.output["prediction"].detach().cpu().numpy().astype(float)
        mean, shape = params[:, :h, 0], params[:, :h, 1]
        rows = res.index["series"].astype(int).to_numpy()
        out[rows] = mean
        # its 0.1 / 0.5 / 0.9 quantiles, exactly (sampling would make them random): kept beside
        # the point, not served (the engine calibrates every model's band the same way)
        r = 1.0 / np.maximum(shape, 1e-9)
        q = np.stack(
            [stats.nbinom.ppf(p, r, r / (r + np.maximum(mean, 1e-12))) for p in QUANTILES],
            axis=-1,
        )
        self.quantiles_ = np.full((n, h, len(QUANTILES)), np.nan)
        self.quantiles_[rows] = q
        # a series with no day before the origin is nobody's failure (the engine does not hold
        # it against the model); one with too few days for the encoder is the network's
        missing = np.ones(n, dtype=bool)
        missing[rows] = False
        counts = {NO_HISTORY: int((missing & unseen).sum()), SHORT: int((missing & ~unseen).sum())}
        self.failures = {why: k for why, k in counts.items() if k}
        return np.maximum(out, 0.0)


def long_frame(panel: Panel, h: int) -> pd.DataFrame:
    """One row per series and day, from each series' first observed day to ``h`` days past the
    origin: the target (closed days bridged as the statistical models see them; 0 ahead, never
    read: it is the decoder's), the known inputs, the static ones and a weight of 1 / the series'
    seasonal-naive MAE (MASE counts every series in its own units, as the GBMs' weights do)."""
    n, t_hist = panel.n_series, len(panel.dates)
    total = t_hist + h
    first = panel.first_observed()  # len(dates) for a series with no history: no rows
    grid = (np.arange(total)[None, :] >= first[:, None]) & (first < t_hist)[:, None]
    series, t = np.nonzero(grid)
    y = np.zeros((n, total))
    y[:, :t_hist] = np.nan_to_num(fill_closed_days(panel.y), nan=0.0)
    frame = pd.DataFrame({"series": series.astype(str), "time_idx": t, "y": y[series, t]})
    for name in KNOWN_REALS:
        values = panel.known_at(name, 0, total) if name in panel.known else np.zeros((n, total))
        frame[name] = np.nan_to_num(np.asarray(values, dtype=np.float32)[series, t])
    if "list_price" in panel.known:
        price = panel.known_at("list_price", 0, total).astype(float)
        with warnings.catch_warnings():  # a series with no sale yet has no usual price: 1.0
            warnings.simplefilter("ignore", RuntimeWarning)
            usual = np.nanmedian(np.where(np.isnan(panel.y), np.nan, price[:, :t_hist]), axis=1)
        ratio = price / np.where(np.isfinite(usual) & (usual > 0), usual, 1.0)[:, None]
        frame["price_ratio"] = np.nan_to_num(ratio[series, t], nan=1.0).astype(np.float32)
    if "day_of_week" in panel.known:
        dow = panel.known_at("day_of_week", 0, total).astype(int)
        frame["day_of_week"] = pd.Categorical(dow[series, t].astype(str))
    for col in STATIC:
        values = panel.series[col] if col in panel.series else pd.Series([None] * n)
        labels = values.astype("string").fillna("(all)").to_numpy()
        frame[col] = pd.Categorical(labels[series])
    scale = seasonal_naive_scale(panel.y)
    weight = 1.0 / np.maximum(np.nan_to_num(scale, nan=1.0), 0.1)
    frame["weight"] = weight[series].astype(np.float32)
    frame["series"] = frame["series"].astype("category")
    return frame


def dataset(frame: pd.DataFrame, b: NeuralBudget, h: int) -> TimeSeriesDataSet:
    reals = [c for c in (*KNOWN_REALS, "price_ratio") if c in frame]
    cats = [c for c in STATIC if c in frame]
    return TimeSeriesDataSet(
        frame,
        time_idx="time_idx",
        target="y",
        group_ids=["series"],
        weight="weight",
        max_encoder_length=b.encoder_days,
        min_encoder_length=b.min_encoder_days,
        max_prediction_length=h,
        min_prediction_length=1,
        static_categoricals=cats,
        time_varying_known_categoricals=["day_of_week"] if "day_of_week" in frame else [],
        time_varying_known_reals=reals,
        time_varying_unknown_reals=["y"],
        # each window scaled by its own encoder's days (a series' level a year ago says little
        # about the weeks before an origin: launches, trends; per-series scaling over the whole
        # history forecast busy items at 0 in our tests), not centred: the negative binomial's
        # mean is a multiple of that scale
        target_normalizer=EncoderNormalizer(center=False),
        # a series or label first seen after training (a new item) is encoded, not an error
        categorical_encoders={c: NaNLabelEncoder(add_nan=True) for c in ["series", *cats]},
        add_relative_time_idx=True,
        add_target_scales=True,
    )


class _quiet:
    """Lightning and pytorch-forecasting print banners and warnings on every fit: quiet them
    (their errors still raise)."""

    LOGGERS = ("lightning", "lightning.pytorch", "pytorch_lightning", "lightning.fabric")

    def __enter__(self):
        self._levels = [(n, logging.getLogger(n).level) for n in self.LOGGERS]
        for n in self.LOGGERS:
            logging.getLogger(n).setLevel(logging.ERROR)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")
        return self

    def __exit__(self, *exc):
        self._warnings.__exit__(*exc)
        for n, level in self._levels:
            logging.getLogger(n).setLevel(level)
        return False
