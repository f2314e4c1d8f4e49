"""`frycast bench …`: the benchmarks (``bench/``), each printing its table and writing
bench_results/<name>.json. `make bench` runs them all."""

from __future__ import annotations

from typing import Annotated

import typer

from warehouse.db import database_url, pipeline_url

bench_app = typer.Typer(
    help="Benchmarks: speed, memory and accuracy, each on its own fresh database.",
    no_args_is_help=True,
)


def model_names(models: str | None) -> list[str] | None:
    """``--models snaive,lightgbm`` as a list of names (None: the settings' models)."""
    from ml.models import check_models

    names = [m.strip() for m in (models or "").split(",") if m.strip()]
    try:
        check_models(names)
    except ValueError as exc:  # a planner's typo or a missing extra: one line, no traceback
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return names or None


@bench_app.command("write")
def write_bench(
    nodes: Annotated[
        int, typer.Option(help="nodes × 365 days × base and reconciled rows")
    ] = 11_000,
) -> None:
    """The forecast write: partitioned (now), single-stream keyed (before), plain COPY."""
    from bench import write

    r = write.run(database_url(), nodes)
    typer.echo(
        f"{r.rows:,} rows: partitioned write {r.partitioned_s} s ({r.partitioned_vs_plain}× a "
        f"plain COPY), single stream into the keyed table {r.single_stream_keyed_s} s "
        f"({r.single_stream_vs_plain}×), plain COPY of the CSV {r.plain_copy_s} s"
    )


@bench_app.command("overrides")
def overrides_bench(
    restaurants: Annotated[int, typer.Option(help="restaurants × 100 SKUs (100: medium)")] = 100,
    n: Annotated[int, typer.Option(help="overrides to apply")] = 1_000,
    zeros: Annotated[
        bool, typer.Option(help="the stress case: a statistical forecast of mostly zeros")
    ] = False,
) -> None:
    """Apply planners' overrides at the medium tier's size, beside the plain reconciliation."""
    from bench import overrides

    result = overrides.run(restaurants, n, zeros)
    typer.echo(overrides.format_table(result))
    typer.echo(f"written to {overrides.write(result)}")


@bench_app.command("reconcile")
def reconcile(
    size: Annotated[list[str], typer.Option(help="10k, 20k and/or 100k bottom series")] = [  # noqa: B006
        "10k",
        "20k",
        "100k",
    ],
    reference: Annotated[
        bool, typer.Option(help="also run hierarchicalforecast's dense MinTrace at 10k")
    ] = True,
) -> None:
    """Reconciliation time and memory at scale, next to hierarchicalforecast."""
    from bench import reconcile as bench

    results = bench.run(tuple(size), reference=reference)
    typer.echo(bench.format_table(results))
    typer.echo(f"results: {bench.write(results)}")


@bench_app.command("ui")
def ui(rounds: Annotated[int, typer.Option(help="timed loads per page")] = 3) -> None:
    """Dashboard page load times in headless Chromium, after a warm-up."""
    from bench import ui as bench

    result = bench.run(pipeline_url(), rounds)
    for page, t in result.items():
        typer.echo(f"  {page:<14} median {t['median_s']:.2f} s, max {t['max_s']:.2f} s")
    typer.echo(f"results: {bench.write(result)}")


@bench_app.command("drivers")
def drivers(tier: Annotated[str, typer.Option(help="a seed tier")] = "medium") -> None:
    """What the drivers (TreeSHAP) cost beside LightGBM's own prediction, on a tier's panel."""
    from bench import drivers as bench

    typer.echo(bench.run(database_url(), tier))


@bench_app.command("accuracy")
def accuracy(
    dataset: Annotated[list[str], typer.Option(help="london, demo, closing")] = [  # noqa: B006
        "london",
        "demo",
        "closing",
    ],
    holdout: Annotated[
        list[int] | None,
        typer.Option(help="held-out days (default: london and demo 28 and 365, closing 56)"),
    ] = None,
    before: Annotated[
        int,
        typer.Option(
            help="end the data this many days earlier: a tuning split that has not seen the "
            "reported holdout (written to its own results file)"
        ),
    ] = 0,
    solo: Annotated[
        str | None,
        typer.Option(
            help="models run alone beside (model or model@level, comma-separated; default: "
            "lightgbm,ets,lstm,tft with the neural extra, else none)"
        ),
    ] = None,
    solo_only: Annotated[
        bool, typer.Option(help="only the solo models (no hierarchical run, no peers)")
    ] = False,
) -> None:
    """frycast vs statsforecast and mlforecast peers on held-out days (separate databases)."""
    import logging

    from bench import accuracy as bench
    from ml.models import neural_available

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if solo is None:  # the networks next to LightGBM and AutoETS, where the extra is installed
        solo = "lightgbm,ets,lstm,tft" if neural_available() else ""
    specs = tuple(x.strip() for x in solo.split(",") if x.strip())
    model_names(",".join(x.partition("@")[0] for x in specs))  # a typo or missing extra: say so
    scores = bench.run(
        database_url(),
        tuple(dataset),
        tuple(holdout) if holdout else None,
        before=before,
        solo=specs,
        solo_only=solo_only,
    )
    typer.echo(f"written to {bench.write(scores, before=before)}")
    if specs:
        typer.echo(bench.solo_table(scores))
    if solo_only:
        return
    typer.echo(bench.format_table(scores))
    typer.echo("\nclaimed (the run's own backtests) vs realised (the held-out days):")
    typer.echo(bench.claimed_vs_realised(scores))
    typer.echo("")
    typer.echo(bench.coverage_table(scores))
    typer.echo("\nthe days planners judge a forecast on (bottom level):")
    typer.echo(bench.special_days_table(scores))


@bench_app.command("pipeline")
def pipeline(
    tier: Annotated[str, typer.Option(help="demo, medium or chain")] = "medium",
    folds: Annotated[int | None, typer.Option(help="backtest folds (default: settings)")] = None,
    fold_horizon: Annotated[int | None, typer.Option(help="days per backtest fold")] = None,
    models: Annotated[str | None, typer.Option(help="comma-separated models")] = None,
) -> None:
    """The whole pipeline on a fresh database (frycast_bench_<tier>), each stage's wall time and
    peak memory, the forecast write against plain COPY, then one more week of data and the whole
    rerun, timed apart."""
    from bench import pipeline as bench

    overrides = {"folds": folds, "fold_horizon": fold_horizon}
    overrides["models"] = model_names(models)
    result = bench.run(tier, database_url(), **{k: v for k, v in overrides.items() if v})
    typer.echo(bench.format_report(result))
    typer.echo(f"written to {bench.write(result)}")


@bench_app.command("distributed")
def distributed(
    tier: Annotated[str, typer.Option(help="demo, medium or chain")] = "demo",
    folds: Annotated[int | None, typer.Option(help="backtest folds (default: settings)")] = None,
    models: Annotated[str | None, typer.Option(help="comma-separated models")] = None,
) -> None:
    """The engine serially and on a local Dask cluster of 1 and 2 workers (Prefect tasks)."""
    from bench import distributed as bench

    names = model_names(models)
    result = bench.run(tier, database_url(), folds=folds, models=names and tuple(names))
    typer.echo(bench.format_report(result))
    typer.echo(f"written to {bench.write(result)}")


@bench_app.command("peer")
def peer(
    tier: Annotated[str, typer.Option(help="demo, medium or chain")] = "medium",
    holdout: Annotated[int, typer.Option(help="held-out days, forecast by both")] = 91,
) -> None:
    """frycast beside statsforecast AutoETS + hierarchicalforecast MinT-shrink: same data, same
    split, every level scored (MASE) and both timed end to end."""
    from bench import peer as bench

    result = bench.run(tier, database_url(), holdout=holdout)
    typer.echo(bench.format_report(result))
    typer.echo(f"written to {bench.write(result)}")


@bench_app.command("load")
def load(
    tier: Annotated[list[str], typer.Option(help="tiers to run (repeatable)")] = ["medium"],  # noqa: B006
    dbt: Annotated[bool, typer.Option(help="also time a full dbt build")] = True,
) -> None:
    """Benchmark generate + load against plain COPY of the same rows, and the dbt build time.

    Runs in a separate database (frycast_bench) on the configured server."""
    from bench import load as bench

    results = []
    for t in tier:
        r = bench.run(t, database_url(), with_dbt=dbt)
        typer.echo(f"{t}: written to {bench.write(r)}")
        results.append(r)
    typer.echo(bench.format_table(results))


@bench_app.command("import")
def import_(size_mb: int = 100) -> None:
    """Import a daily file and an order-line export of ``size_mb`` each: time and peak memory.

    Runs in a fresh database (frycast_bench_import) on the configured server."""
    from bench import imports as bench

    typer.echo(bench.format_table(bench.run(database_url(), size_mb)))
