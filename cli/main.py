"""The `frycast` command line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from cli.bench import bench_app, model_names
from cli.overrides import override_app
from frycast.settings import get_settings
from warehouse.db import (
    apply_infra,
    database_url,
    dbt_env,
    embedded_warehouse,
    pipeline_url,
    planner_url,
    reader_url,
)

app = typer.Typer(
    help="frycast: daily sales forecasts for every restaurant × menu item.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
warehouse_app = typer.Typer(
    help="The embedded PostgreSQL warehouse (used when DATABASE_URL is unset).",
    no_args_is_help=True,
)
import_app = typer.Typer(help="Import real sales data into raw.*.", no_args_is_help=True)
agents_app = typer.Typer(help="The review agents' tools, run as an agent runs them.")
app.add_typer(warehouse_app, name="warehouse")
app.add_typer(import_app, name="import")
app.add_typer(agents_app, name="agents")
app.add_typer(bench_app, name="bench")
app.add_typer(override_app, name="override")


def _url() -> str:
    """The warehouse as the pipeline's own login (frycast_owner, not a superuser), with roles,
    schemas and raw tables in place."""
    return pipeline_url()


# What a reading process (dashboard, docs server) must not inherit: privileged logins, secrets.
_PRIVILEGED_ENV = (
    "DATABASE_URL",
    "FRYCAST_OWNER_PASSWORD",
    "ANTHROPIC_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "MLFLOW_TRACKING_URI",
)


def _reader_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PRIVILEGED_ENV}
    env["FRYCAST_READER_URL"] = reader_url()
    # the Adjust page saves overrides through the planner login: insert-only
    env["FRYCAST_PLANNER_URL"] = planner_url()
    return env


@warehouse_app.command("up")
def warehouse_up(
    login: Annotated[
        str,
        typer.Option(help="whose URL to print: admin (DATABASE_URL's), owner, reader or planner"),
    ] = "admin",
) -> None:
    """Start the warehouse (embedded unless DATABASE_URL is set), create roles and schemas; print
    its URL for a login: `psql "$(frycast warehouse up --login reader)"` reads the marts."""
    urls = {"admin": database_url, "owner": _url, "reader": reader_url, "planner": planner_url}
    if login not in urls:
        raise typer.BadParameter("admin, owner, reader or planner", param_hint="--login")
    owner = _url()
    typer.echo(owner if login == "owner" else urls[login]())


@warehouse_app.command("down")
def warehouse_down() -> None:
    """Stop the embedded warehouse."""
    if get_settings().database_url:
        typer.echo("DATABASE_URL is set: frycast does not manage that server.")
        return
    stopped = embedded_warehouse().down()
    typer.echo("stopped" if stopped else "not running")


@warehouse_app.command("status")
def warehouse_status() -> None:
    """Say which warehouse is configured and whether it is up."""
    s = get_settings()
    if s.database_url:
        typer.echo(f"external (DATABASE_URL): {s.database_url}")
        return
    wh = embedded_warehouse(s)
    state = "running" if wh.is_running() else "stopped"
    typer.echo(f"embedded, {state}: {wh.url} (data in {wh.pgdata})")


@warehouse_app.command("env")
def warehouse_env() -> None:
    """Print the exports dbt's profile reads: eval "$(frycast warehouse env)"; dbt ..."""
    for key, value in dbt_env(_url()).items():
        typer.echo(f"export {key}={value!r}")


@warehouse_app.command("init")
def warehouse_init() -> None:
    """Apply infra/sql (roles, schemas, raw tables); idempotent."""
    url = database_url()
    typer.echo("applied " + ", ".join(apply_infra(url)))


@app.command()
def seed(
    tier: Annotated[str, typer.Option(help="demo | medium | chain")] = "demo",
    restaurants: Annotated[int | None, typer.Option(help="override the tier's restaurants")] = None,
    skus: Annotated[int | None, typer.Option(help="override the tier's SKUs")] = None,
    days: Annotated[int | None, typer.Option(help="override the tier's days")] = None,
    start: Annotated[str | None, typer.Option(help="first day, YYYY-MM-DD")] = None,
    seed: Annotated[int, typer.Option(help="random seed: same seed, same data")] = 42,
) -> None:
    """Generate a synthetic chain and load it into raw.* (replacing earlier synthetic data)."""
    from ingest.generator import TIERS, ChainSpec
    from ingest.seed import seed as run_seed

    if tier not in TIERS:
        raise typer.BadParameter(f"choose one of {', '.join(TIERS)}", param_hint="--tier")
    spec = ChainSpec.for_tier(tier, seed, date.fromisoformat(start) if start else None)
    spec = ChainSpec(
        restaurants or spec.restaurants, skus or spec.skus, days or spec.days, spec.start, seed
    )
    report = run_seed(_url(), spec)
    typer.echo(
        f"seeded batch {report.batch_id}: {report.restaurants} restaurants × {report.skus} SKUs, "
        f"{spec.start} … {spec.end}, {report.sales_rows:,} sales rows in {report.seconds:.1f} s "
        f"({report.rows_per_second:,.0f} rows/s)"
    )


def _finish_import(report, strict: bool) -> None:
    typer.echo(report.summary(), err=bool(report.rejected))
    if report.skipped_as_duplicate_of is None and report.rows_loaded == 0:
        typer.echo(f"{report.path}: no line could be loaded", err=True)
        raise typer.Exit(1)
    if report.rejected and strict:
        raise typer.Exit(1)  # good rows are loaded; the exit code tells scripts some were not


def _import(source: str, file: Path, strict: bool, load) -> None:
    """Run one import: a file-level problem or an unexpected error is recorded as a failed batch
    and reported in one line with exit 2, never as a traceback; earlier batches stay loaded."""
    from ingest.batches import record_failed_batch
    from ingest.csvfile import InputFileError

    url = _url()
    try:
        report = load(url)
    except InputFileError as exc:
        _fail(exc)  # the importer recorded the failed batch
    except Exception as exc:  # noqa: BLE001 - whatever it was, the user gets a line, not a trace
        message = f"{file}: unexpected error while importing: {type(exc).__name__}: {exc}"
        record_failed_batch(url, source, str(file), message[:2000])
        _fail(message)
    _finish_import(report, strict)


_STRICT = typer.Option(help="exit 1 when any line was rejected (good lines still load)")
_COUNTRY = typer.Option(
    help="the restaurants' regions are in this country (holidays package code: GB, JP, US, ...)"
)
_SUBDIVISION = typer.Option(help="and this subdivision of it (ENG; 13 for Tokyo; CA)")


@import_app.command("daily")
def import_daily_cmd(
    file: Path,
    register_new: Annotated[
        bool, typer.Option(help="add unknown restaurant/SKU ids with placeholder attributes")
    ] = False,
    complete: Annotated[
        bool,
        typer.Option(
            help="the file holds every item each restaurant sold on its days (an item it leaves "
            "out sold none); without it, a day with few of the restaurant's usual items is partial"
        ),
    ] = False,
    restaurant_col: Annotated[str, typer.Option(help="the file's restaurant id column")] = (
        "restaurant_id"
    ),
    sku_col: Annotated[str, typer.Option(help="the file's item id column")] = "sku_id",
    date_col: Annotated[str, typer.Option(help="the file's date column (YYYY-MM-DD)")] = (
        "sale_date"
    ),
    units_col: Annotated[str, typer.Option(help="the file's quantity column")] = "units",
    delimiter: Annotated[
        str,
        typer.Option(help="the field delimiter: ',' (default), ';', '|', or tab ('tab', '\\t')"),
    ] = ",",
    wide: Annotated[
        bool,
        typer.Option(
            help="one column per item (its header is the SKU id) beside the restaurant and date "
            "columns: each non-blank cell is that item's units that day; a bad cell is rejected "
            "with its line and column, the line's other items load"
        ),
    ] = False,
    units_per_line: Annotated[
        bool,
        typer.Option(
            help="no quantity column: each line is one unit sold; units are the lines per "
            "restaurant, item and day"
        ),
    ] = False,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            help="an item value that is not a menu item (NONE, Adjustment, 'Gift voucher'; "
            "trimmed, any case; repeatable): its lines (a wide file's columns) are left out, "
            "not rejected, and the batch message counts them per value"
        ),
    ] = None,
    exclude_file: Annotated[
        Path | None,
        typer.Option(help="more values to exclude, one per line", exists=True, dir_okay=False),
    ] = None,
    event_col: Annotated[
        list[str] | None,
        typer.Option(
            help="a column beside the sales whose non-blank value names an event of the line's "
            "restaurant and day (repeatable): kept in raw.calendar_events, as from import calendar"
        ),
    ] = None,
    country: Annotated[str | None, _COUNTRY] = None,
    subdivision: Annotated[str | None, _SUBDIVISION] = None,
    encoding: str = "utf-8",
    strict: Annotated[bool, _STRICT] = False,
) -> None:
    """Import a CSV with the contract's daily columns: restaurant_id, sku_id, sale_date, units
    [, net_sales, unit_price, on_promo] (other header names mapped with --*-col; other shapes
    read with --wide, --units-per-line, --delimiter). Exit 2 if the file as a whole cannot be
    loaded; a re-import of the same file with other options replaces the earlier batch."""
    from ingest.csvfile import delimiter_char
    from ingest.daily import SOURCE, import_daily

    place = _place(country, subdivision)
    try:
        delimiter_char(delimiter)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--delimiter") from exc
    if wide and units_per_line:
        raise typer.BadParameter("a wide file has a quantity per cell", param_hint="--wide")
    excluded = [
        *(exclude or []),
        *(exclude_file.read_text("utf-8-sig").splitlines() if exclude_file else []),
    ]
    columns = {
        "restaurant_id": restaurant_col,
        "sku_id": sku_col,
        "sale_date": date_col,
        "units": units_col,
    }
    _import(
        SOURCE,
        file,
        strict,
        lambda url: import_daily(
            url,
            file,
            register_new=register_new,
            complete=complete,
            encoding=encoding,
            columns=columns,
            place=place,
            delimiter=delimiter,
            wide=wide,
            units_per_line=units_per_line,
            exclude=excluded,
            event_cols=event_col or [],
        ),
    )


@import_app.command("restaurants")
def import_restaurants_cmd(
    file: Path, encoding: str = "utf-8", strict: Annotated[bool, _STRICT] = False
) -> None:
    """Add or update restaurants: restaurant_id, region [, name, city, country, subdivision,
    format, opened_on, closed_on]. A blank cell keeps what is registered; a region's country
    and subdivision (the `holidays` package's codes) choose its public holidays."""
    from ingest.attributes import RESTAURANTS_SOURCE, import_restaurants

    _import(
        RESTAURANTS_SOURCE,
        file,
        strict,
        lambda url: import_restaurants(url, file, encoding=encoding),
    )


@import_app.command("skus")
def import_skus_cmd(
    file: Path, encoding: str = "utf-8", strict: Annotated[bool, _STRICT] = False
) -> None:
    """Add or update menu items: sku_id [, name, product_group, list_price, launched_on,
    discontinued_on]. A blank cell keeps what is registered."""
    from ingest.attributes import SKUS_SOURCE, import_skus

    _import(SKUS_SOURCE, file, strict, lambda url: import_skus(url, file, encoding=encoding))


@import_app.command("calendar")
def import_calendar_cmd(
    file: Path, encoding: str = "utf-8", strict: Annotated[bool, _STRICT] = False
) -> None:
    """Add a planner's days: date, name, kind (holiday | event | closure), region or
    restaurant_id [, effect, known_since]. Holidays join the region's calendar (never replaced by
    the generated one), closures close the restaurant (0, no band), events are kept per region or
    restaurant."""
    from ingest.user_calendar import SOURCE, import_calendar

    _import(SOURCE, file, strict, lambda url: import_calendar(url, file, encoding=encoding))


def _place(country: str | None, subdivision: str | None) -> tuple[str, str | None] | None:
    """--country / --subdivision checked against the `holidays` package's calendars."""
    from ingest.calendar import place_problem

    country = country.upper() if country else None
    if problem := place_problem(country, subdivision):
        raise typer.BadParameter(problem, param_hint="--country / --subdivision")
    return (country, subdivision) if country else None


@import_app.command("orders")
def import_orders_cmd(
    file: Path,
    restaurant: Annotated[str, typer.Option(help="restaurant name (its id is the slug)")],
    region: Annotated[str | None, typer.Option(help="new restaurants: 'Unassigned'")] = None,
    city: str | None = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="restaurant format (new: 'takeaway')")
    ] = None,
    order_col: str = "OrderNumber",
    date_col: str = "OrderDate",
    item_col: str = "ItemName",
    qty_col: str = "Quantity",
    price_col: Annotated[str, typer.Option(help="unit price column; '' for none")] = "ProductPrice",
    line_count_col: Annotated[
        str, typer.Option(help="the order's own count of lines, when the export has it")
    ] = "TotalProducts",
    dayfirst: Annotated[
        bool | None,
        typer.Option("--dayfirst/--monthfirst", help="default: detected from the dates"),
    ] = None,
    date_format: Annotated[
        str | None, typer.Option(help="strptime format, e.g. %d/%m/%Y %H:%M")
    ] = None,
    prices: Annotated[Path | None, typer.Option(help="CSV: Item Name, Product Price")] = None,
    product_groups: Annotated[Path | None, typer.Option(help="CSV: item, product_group")] = None,
    item_ids: Annotated[
        Path | None, typer.Option(help="CSV: item, sku_id (names to merge into one id)")
    ] = None,
    drop_exact_duplicates: Annotated[
        bool, typer.Option(help="drop every exact repeat of a line (default: repeats are sales)")
    ] = False,
    country: Annotated[str | None, _COUNTRY] = None,
    subdivision: Annotated[str | None, _SUBDIVISION] = None,
    encoding: str = "utf-8",
    strict: Annotated[bool, _STRICT] = False,
) -> None:
    """Import point-of-sale order lines (kept line by line; overlapping exports add up once).
    A re-import of the same file with other options replaces the earlier batch."""
    from ingest.attributes import allowed_formats
    from ingest.orders import SOURCE, OrderColumns, Restaurant, import_orders

    place = _place(country, subdivision)
    if fmt is not None and fmt not in allowed_formats():
        raise typer.BadParameter(
            f"unknown format {fmt!r} (allowed: {', '.join(allowed_formats())})",
            param_hint="--format",
        )
    cols = OrderColumns(
        order_col, date_col, item_col, qty_col, price_col or None, line_count_col or None
    )
    _import(
        SOURCE,
        file,
        strict,
        lambda url: import_orders(
            url,
            file,
            Restaurant(restaurant, region, city, fmt, *(place or (None, None))),
            columns=cols,
            dayfirst=dayfirst,
            date_format=date_format,
            prices=prices,
            product_groups=product_groups,
            item_ids=item_ids,
            drop_exact_duplicates=drop_exact_duplicates,
            encoding=encoding,
        ),
    )


def _fail(exc: Exception | str) -> None:
    typer.echo(f"error: {exc}\n(nothing from this file was loaded; see raw.load_batches)", err=True)
    raise typer.Exit(2)


@app.command()
def build(
    select: Annotated[str | None, typer.Option(help="dbt selector, e.g. tag:nightly")] = None,
    full_refresh: bool = False,
) -> None:
    """dbt build: staging, intermediate, features and marts, with every dbt test."""
    from warehouse.dbt import run_dbt

    args = ["build"] + (["--select", select] if select else [])
    args += ["--full-refresh"] if full_refresh else []
    result = run_dbt(args, _url())
    typer.echo(f"dbt build: {result.passed} passed, {result.failed} failed")
    for f in result.failures:
        typer.echo("  " + f, err=True)
    if not result.success:
        raise typer.Exit(1)


def _run_tool(name: str, run_id: int, tool_input: dict) -> None:
    """One agent tool run exactly as an agent runs it (the reader login, its schema, time, row and
    byte limits); its JSON result printed, or {"is_error": ...} and exit 1."""
    import json

    from agents.tools import ALL_TOOLS, Context, call

    s = get_settings()
    ctx = Context(
        database_url(s),
        run_id,
        s.agent_sql_timeout_ms,
        s.agent_sql_row_limit,
        s.agent_sql_byte_limit,
        reader_url=reader_url(settings=s),
    )
    try:
        if name not in ALL_TOOLS:
            raise ValueError(f"unknown tool {name!r}; one of {', '.join(ALL_TOOLS)}")
        typer.echo(call(ALL_TOOLS[name], ctx, tool_input))
    except Exception as exc:  # noqa: BLE001 - the tool's error, as the model would see it
        typer.echo(json.dumps({"is_error": True, "error": f"{type(exc).__name__}: {exc}"}))
        raise typer.Exit(1) from None


@agents_app.command("sql")
def agents_sql(
    query: Annotated[str, typer.Argument(help="one SELECT statement")],
    run_id: Annotated[int, typer.Option(help="the run under review (for the other tools)")] = 0,
) -> None:
    """Run the agents' SQL tool exactly as an agent does (the reader login, one SELECT, time,
    row and byte limits) and print its JSON result; a refusal or error prints {"is_error": ...}
    and exits 1."""
    _run_tool("sql", run_id, {"query": query})


@agents_app.command("tool")
def agents_tool(
    name: Annotated[str, typer.Argument(help="run_overview, accuracy_by_horizon, ...")],
    run_id: Annotated[int, typer.Option(help="the run under review")],
    tool_input: Annotated[
        str, typer.Option("--input", help='the tool\'s input as JSON, e.g. \'{"level": "chain"}\'')
    ] = "{}",
) -> None:
    """Run any agent tool as an agent does and print what the model would read, e.g.
    `frycast agents tool accuracy_by_horizon --run-id 3`."""
    import json

    try:
        parsed = json.loads(tool_input)
    except json.JSONDecodeError as exc:
        typer.echo(json.dumps({"is_error": True, "error": f"--input is not JSON: {exc}"}))
        raise typer.Exit(1) from None
    _run_tool(name, run_id, parsed)


@app.command()
def docs(
    serve: Annotated[bool, typer.Option(help="serve the site after generating it")] = True,
    port: int = 8080,
    host: Annotated[
        str, typer.Option(help="address to bind (0.0.0.0 in a container)")
    ] = "127.0.0.1",
) -> None:
    """Generate the dbt docs site (lineage, column docs) and serve it, as the reader login: no
    DDL, no privileged credentials. The catalog is read from the live relations; model SQL is
    shown as written (compiling would read tables the reader may not)."""
    from warehouse.dbt import run_dbt

    result = run_dbt(["docs", "generate", "--no-compile"], reader_url())
    if not result.success:
        typer.echo("\n".join(result.failures), err=True)
        raise typer.Exit(1)
    target = get_settings().dbt_project_dir / "target"
    typer.echo(f"docs generated in {target}")
    if serve:
        typer.echo(f"serving on http://{host}:{port} (Ctrl-C to stop)")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "http.server",
                str(port),
                "--bind",
                host,
                "--directory",
                str(target),
            ],
            check=False,
        )


@app.command()
def summary() -> None:
    """Row counts of every warehouse table, by schema."""
    from warehouse.inventory import table_counts

    url = _url()
    typer.echo(f"warehouse: {url}")
    for schema, table, rows in table_counts(url):
        typer.echo(f"  {schema + '.' + table:<45} {rows:>12,}")


@app.command()
def forecast(
    horizon: Annotated[
        int | None, typer.Option(help="days to forecast (default: settings)")
    ] = None,
    folds: Annotated[int | None, typer.Option(help="backtest folds")] = None,
    fold_horizon: Annotated[int | None, typer.Option(help="days per backtest fold")] = None,
    models: Annotated[str | None, typer.Option(help="comma-separated model names")] = None,
    restaurant: Annotated[list[str] | None, typer.Option(help="only these restaurant ids")] = None,
    track: Annotated[bool, typer.Option(help="log to MLflow")] = True,
    reconciler: Annotated[
        str | None,
        typer.Option(help="mint_shrink, wls_var, wls_struct, ols, bottom_up, top_down, none"),
    ] = None,
) -> None:
    """Backtest every model, select a model per segment, forecast every node of the hierarchy,
    reconcile, and write forecast.* tables."""
    import logging

    from flows.forecast import run_forecast

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    overrides = {"horizon": horizon, "folds": folds, "fold_horizon": fold_horizon}
    if models:
        overrides["models"] = tuple(model_names(models))
    from frycast import progress

    with progress.listening(lambda message, _: typer.echo(message, err=True)):
        report = run_forecast(
            _url(), restaurants=restaurant or None, track=track, reconciler=reconciler, **overrides
        )
    typer.echo(
        f"forecast run {report.run_id}: {report.n_series} series × {report.horizon} days "
        f"in {report.seconds:.0f}s (MLflow run {report.mlflow_run_id}, "
        f"model version {report.model_version}, not the champion: only a published run is)"
    )
    for table, n in report.rows_written.items():
        typer.echo(f"  {table:<32} {n:>12,} rows")
    if restaurant:
        typer.echo(
            f"  {', '.join(restaurant)} alone, from their own last day; not published (the "
            "published run serves the rest). See it in the dashboard's Explorer (search the "
            "restaurant's name) or in SQL: select level, node_key, forecast_date, yhat from "
            f"marts.fct_forecast_by_run where run_id = {report.run_id} and level = 'restaurant'"
        )
    for r, day in sorted(report.skipped.items()):
        typer.echo(f"  not forecast: {r}, data ends {day} (run it alone: --restaurant {r})")
    typer.echo(
        f"  default model: {report.summary['default_model']}; chosen: "
        + ", ".join(f"{m} {n}" for m, n in report.summary["models_chosen"].items())
    )
    typer.echo(f"  {'model':<14}{'MASE':>8}{'chain MASE':>12}{'wQL':>8}{'cover80':>9}")
    for m, v in sorted(report.summary["per_model"].items(), key=lambda kv: kv[1]["mase"]):
        typer.echo(
            f"  {m:<14}{v['mase']:>8.3f}{v['chain_mase']:>12.3f}{v['wql']:>8.3f}"
            f"{v['coverage_80']:>9.3f}"
        )
    rec = report.reconciliation
    if rec:
        typer.echo(
            f"  reconciled with {rec['reconciler']} over {rec['n_nodes']:,} nodes "
            f"(coherence error {rec['coherence_error']:.1e}); backtest by level:"
        )
        typer.echo(
            f"  {'level':<26}{'nodes':>7}{'MASE base':>11}{'→ rec':>8}"
            f"{'cover base':>12}{'→ rec':>8}"
        )
        for level, v in rec["levels"].items():
            typer.echo(
                f"  {level:<26}{v['nodes']:>7}{v['mase_base']:>11.3f}{v['mase_reconciled']:>8.3f}"
                f"{v['coverage_base']:>12.3f}{v['coverage_reconciled']:>8.3f}"
            )


@app.command("run")
def run_pipeline(
    horizon: Annotated[
        int | None, typer.Option(help="days to forecast (default: settings)")
    ] = None,
    folds: Annotated[int | None, typer.Option(help="backtest folds")] = None,
    fold_horizon: Annotated[int | None, typer.Option(help="days per backtest fold")] = None,
    models: Annotated[str | None, typer.Option(help="comma-separated model names")] = None,
    reconciler: Annotated[str | None, typer.Option(help="reconciliation method")] = None,
) -> None:
    """The whole forecast_pipeline flow: dbt, data quality, forecast, reconcile, marts, publish."""
    _send_runs_to_prefect_server()
    from flows.pipeline import forecast_pipeline

    result = forecast_pipeline(
        horizon=horizon,
        folds=folds,
        fold_horizon=fold_horizon,
        models=model_names(models),
        reconciler=reconciler,
    )  # no url: the flow logs in itself, so no password becomes a Prefect flow-run parameter
    typer.echo(
        f"run {result['run_id']} published (data quality: {result['data_quality']}, "
        f"metrics: {result['metrics']}); served in marts.fct_forecast"
    )
    if result["snapshot"]:
        typer.echo(f"snapshot: {result['snapshot']}")
    elif result["snapshot_error"]:
        typer.echo(f"snapshot failed: {result['snapshot_error']}", err=True)


@app.command("snapshot")
def snapshot(
    run_id: Annotated[
        int | None, typer.Option(help="the run to snapshot (default: the published one)")
    ] = None,
) -> None:
    """Write a run's served forecast as Parquet + manifest to S3 / MinIO (MLFLOW_S3_ENDPOINT_URL
    set) or under the warehouse folder; print the Parquet file's URI."""
    from warehouse.snapshots import write_snapshot

    try:
        snap = write_snapshot(_url(), run_id)
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if snap is None:
        typer.echo("snapshots are off (FRYCAST_SNAPSHOTS=off)", err=True)
        raise typer.Exit(1)
    typer.echo(f"run {snap.run_id}: {snap.rows:,} rows, sha256 {snap.sha256[:12]}…", err=True)
    typer.echo(snap.uri)


@app.command("drift")
def drift(
    trigger: Annotated[bool, typer.Option(help="re-run the pipeline if drift is found")] = False,
) -> None:
    """Compare new actuals with the published forecast; store forecast.drift_metrics."""
    _send_runs_to_prefect_server()
    from flows.drift import drift_check

    result = drift_check(trigger=trigger)  # the flow logs in itself (no URL as a parameter)
    typer.echo(result["summary"])
    if "triage" in result:
        typer.echo(f"triage: {result['triage']['verdict']} — {result['triage']['summary']}")


@app.command("serve")
def serve(
    pipeline_cron: Annotated[str | None, typer.Option(help="cron of forecast_pipeline")] = None,
    drift_cron: Annotated[str | None, typer.Option(help="cron of drift_check")] = None,
) -> None:
    """Register and serve the deployments in Prefect: the weekly pipeline, the nightly drift
    check, and the planners' overrides applied to the served run when they change."""
    _send_runs_to_prefect_server()
    from prefect import serve as prefect_serve

    from flows.drift import drift_check
    from flows.overrides import apply_published_overrides
    from flows.pipeline import forecast_pipeline
    from frycast.settings import get_settings

    s = get_settings()
    _url()  # roles, schemas and the logins' passwords in place before the first scheduled run
    prefect_serve(
        forecast_pipeline.to_deployment(
            name="weekly", cron=pipeline_cron or s.pipeline_cron
        ),  # no URL parameter: a login (and its password) never shows in the Prefect UI
        drift_check.to_deployment(name="nightly", cron=drift_cron or s.drift_cron),
        # does nothing unless an override was saved since the last application (or the day
        # changed: one may have expired)
        apply_published_overrides.to_deployment(
            name="on-change", interval=s.overrides_apply_every_s
        ),
    )


@app.command("ui")
def ui(
    port: Annotated[int, typer.Option(help="port")] = 8501,
    host: Annotated[
        str, typer.Option(help="address to bind (0.0.0.0 in a container)")
    ] = "127.0.0.1",
) -> None:
    """The Streamlit dashboard over the marts (http://127.0.0.1:8501)."""
    app_file = Path(__file__).resolve().parents[1] / "streamlit_app" / "app.py"
    env = _reader_env()  # the reader login only: no DDL here, no privileged credentials
    subprocess.run(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(app_file),
            "--server.port",
            str(port),
            "--server.address",
            host,
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        env=env,
        check=False,
    )


@app.command("prefect-server")
def prefect_server(
    port: Annotated[
        int | None, typer.Option(help="port (default: FRYCAST_PREFECT_UI_URL's, 4200)")
    ] = None,
    host: Annotated[str | None, typer.Option(help="address to bind (default: 127.0.0.1)")] = None,
    database: Annotated[str, typer.Option(help="Prefect's database on that server")] = "prefect",
    background: Annotated[
        bool, typer.Option(help="start it detached; return once it answers (make demo)")
    ] = False,
    stop: Annotated[bool, typer.Option("--stop", help="stop the one --background started")] = False,
) -> None:
    """A local Prefect server and UI. Its state lives on the warehouse's Postgres server, or in
    SQLite under .warehouse/ when that server lacks pg_trgm (the embedded one). `frycast run`,
    `frycast drift` and `make demo` send their runs to it while it is up."""
    from flows import server

    s = get_settings()
    if stop:
        typer.echo("stopped" if server.stop(s) else "no Prefect server started by frycast")
        return
    p = server.plan(database_url(), s, database, host=host, port=port)
    if server.is_up(p.api):
        typer.echo(f"Prefect UI already running on {p.ui}")
        return
    typer.echo(f"Prefect UI on {p.ui} (runs kept in {p.where})")
    if background:
        try:
            pid = server.start_background(p, s)
        except RuntimeError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"started in the background (pid {pid}, log {server.log_path(s)}); "
                   "stop it with: frycast prefect-server --stop")  # fmt: skip
        return
    typer.echo("frycast run, frycast drift and make demo send their runs here while it is up")
    raise typer.Exit(
        subprocess.run(server.command(p), env=server.server_env(p), check=False).returncode
    )


def _send_runs_to_prefect_server() -> None:
    """Flow runs go to the Prefect server the user started (`make prefect-ui`, `make demo`),
    where they stay visible, rather than to a temporary one. Before Prefect is imported."""
    from flows import server

    api = server.attach(get_settings())
    if api:
        typer.echo(f"Prefect: runs go to {api.removesuffix('/api')}", err=True)


@app.command("mlflow-ui")
def mlflow_ui(port: Annotated[int, typer.Option(help="port")] = 5000) -> None:
    """The MLflow UI over the warehouse's tracking store (runs, metrics, the champion model)."""
    import subprocess
    import sys

    from ml.tracking import warehouse_tracking_uri

    s = get_settings()
    uri = s.mlflow_tracking_uri or warehouse_tracking_uri(_url())
    subprocess.run(
        [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--port", str(port)],
        check=False,
    )


if __name__ == "__main__":
    app()
