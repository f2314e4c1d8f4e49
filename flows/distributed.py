"""Spread the forecast's fits over a Dask cluster, as Prefect tasks on Prefect's DaskTaskRunner.

The engine (ml/) cuts its work into independent jobs: each (model, backtest fold) fit, per-series
models (ETS, Theta, ARIMA, Prophet, the baselines) further into slices of the series, and global
models (LightGBM, XGBoost) as one job per fold, or per fold and block of restaurants with
``FRYCAST_GLOBAL_PARTITIONS`` > 1 (one model per block). :func:`dask_mapper` runs a batch of
jobs as one `forecast-fits` flow run whose tasks go to Dask: a local cluster of single-threaded
worker processes started for the block, or an existing scheduler (``FRYCAST_DASK_ADDRESS``, e.g.
``tcp://dask-scheduler:8786``; its workers need frycast's environment installed). The result is
the same as a serial run: only where the fits happen changes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE

log = logging.getLogger(__name__)


# jobs carry arrays: no cache key (it would hash them) and no stored results
@task(name="fit", cache_policy=NO_CACHE, persist_result=False)
def fit_task(fn: Callable, job):
    return fn(job)


# Batches of jobs by id, in the driver process. The flow reads its batch from here rather than
# from a closure: Prefect ships the flow run's context (with the flow object) to every task, so a
# closure over the jobs would send all of them with each one (235 MiB per task on the demo chain).
_BATCHES: dict[str, tuple[Callable, list]] = {}


@flow(name="forecast-fits", persist_result=False)
def forecast_fits(batch: str) -> list:
    fn, jobs = _BATCHES[batch]
    futures = fit_task.map(unmapped(fn), jobs)
    return [f.result() for f in futures]


@contextmanager
def dask_mapper(address: str | None = None, n_workers: int = 2) -> Iterator[Callable]:
    """A ``Mapper`` (see ml/backtest.py) that runs every job as a Prefect task on Dask."""
    from prefect_dask import DaskTaskRunner

    cluster = None
    if not address:
        from distributed import LocalCluster

        # processes, one thread each: the fits hold the GIL, and BLAS threads would oversubscribe
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
        )
        address = cluster.scheduler_address
    log.info("fits go to the Dask scheduler at %s", address)
    on_dask = forecast_fits.with_options(task_runner=DaskTaskRunner(address=address))

    def mapper(fn: Callable, jobs: list) -> list:
        batch = uuid.uuid4().hex
        _BATCHES[batch] = (fn, jobs)
        try:
            return on_dask(batch)
        finally:
            del _BATCHES[batch]

    try:
        yield mapper
    finally:
        if cluster is not None:
            cluster.close()


def dask_workers(address: str | None, local_workers: int) -> int:
    """How many workers the jobs will be spread over (for the number of series slices)."""
    if not address:
        return local_workers
    from distributed import Client

    with Client(address, timeout=10) as client:
        return max(1, len(client.scheduler_info()["workers"]))
