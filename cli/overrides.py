"""`frycast override …`: planners' adjustments of the forecast, from the terminal.

`add` saves through the planner login (insert only) after checking the override against the
served forecast (the node exists; with the overrides in force it can hold), then applies the
overrides to the served run so it shows at once; `list` shows them with what the served run did
with each; `retire` ends one (a new row, with the reason: nothing is deleted); `apply` applies the
overrides in force to the served run again.
"""

from __future__ import annotations

import getpass
from datetime import date
from typing import Annotated

import pandas as pd
import typer

from warehouse.db import pipeline_url, planner_url

override_app = typer.Typer(
    help="Planners' adjustments: add, list, retire and apply overrides of the forecast.",
    no_args_is_help=True,
)


def parse_node(node: str) -> tuple[str, str]:
    """``restaurant:R0001`` → (restaurant, R0001); ``chain`` → (chain, chain)."""
    from frycast.levels import LEVEL_NAMES

    level, _, key = node.partition(":")
    key = key or level
    if level not in LEVEL_NAMES:
        raise typer.BadParameter(
            f"{node!r}: give LEVEL:KEY with a level of {', '.join(LEVEL_NAMES)} "
            "(e.g. restaurant:R0001, restaurant_sku:R0001/S0003, chain)",
            param_hint="--node",
        )
    return level, key


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(1)


@override_app.command("add")
def add(
    node: Annotated[str, typer.Option(help="LEVEL:KEY, e.g. restaurant:R0001 or chain")],
    date_from: Annotated[str, typer.Option("--from", help="first day (YYYY-MM-DD)")],
    date_to: Annotated[str, typer.Option("--to", help="last day, included (YYYY-MM-DD)")],
    reason: Annotated[str, typer.Option(help="why: a local event, road works, a promotion")],
    set_total: Annotated[
        float | None, typer.Option("--set-total", help="the range's total units")
    ] = None,
    scale: Annotated[float | None, typer.Option(help="times the statistical forecast")] = None,
    set_daily: Annotated[
        float | None, typer.Option("--set-daily", help="units on each day of the range")
    ] = None,
    author: Annotated[str | None, typer.Option(help="who (default: your user name)")] = None,
    expires: Annotated[
        str | None, typer.Option(help="no run applies it after this day (YYYY-MM-DD)")
    ] = None,
    supersedes: Annotated[
        int | None, typer.Option(help="the override this one changes (its id)")
    ] = None,
    apply: Annotated[bool, typer.Option(help="apply to the served run at once")] = True,
) -> None:
    """Adjust the forecast of one node over a range of days, with a reason; the change is on
    record with its author, and the served forecast holds it, reconciled around it."""
    from warehouse.overrides_io import OverrideRefused, add_override, check_new_override

    kinds = {"set_total": set_total, "scale": scale, "set_daily": set_daily}
    given = {k: v for k, v in kinds.items() if v is not None}
    if len(given) != 1:
        _fail("give exactly one of --set-total, --scale or --set-daily")
    ((kind, value),) = given.items()
    level, key = parse_node(node)
    try:
        start, end = date.fromisoformat(date_from), date.fromisoformat(date_to)
        until = date.fromisoformat(expires) if expires else None
    except ValueError as exc:
        _fail(f"a date is not YYYY-MM-DD: {exc}")
    fields = dict(
        level=level, node_key=key, date_from=start, date_to=end, kind=kind, value=value,
        reason=reason, author=author or getpass.getuser(), expires_on=until,
        supersedes=supersedes,
    )  # fmt: skip
    owner = pipeline_url()
    problem = check_new_override(owner, fields)
    if problem:
        _fail(problem)
    try:
        add_override(planner_url(), **fields)
    except OverrideRefused as exc:
        _fail(f"refused: {exc}")
    typer.echo(f"saved: {level} {key} {start}..{end} {kind} {value:g} ({reason})")
    if apply:
        _apply(owner)


@override_app.command("list")
def list_(
    all_rows: Annotated[bool, typer.Option("--all", help="every row, changed and retired too")] = (
        False
    ),
) -> None:
    """The overrides (in force by default), with what the served run did with each."""
    from warehouse.overrides_io import override_table

    frame = override_table(pipeline_url(), in_force_only=not all_rows)
    if frame.empty:
        typer.echo("no overrides" + ("" if all_rows else " in force"))
        return
    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        typer.echo(frame.to_string(index=False))


@override_app.command("retire")
def retire(
    override_id: Annotated[int, typer.Argument(help="the override's id")],
    reason: Annotated[str, typer.Option(help="why it ends")],
    author: Annotated[str | None, typer.Option(help="who (default: your user name)")] = None,
    apply: Annotated[bool, typer.Option(help="apply to the served run at once")] = True,
) -> None:
    """End an override: a new row retires it (nothing is deleted), and the served run no longer
    holds it."""
    from warehouse.overrides_io import OverrideRefused, add_override, override_row

    owner = pipeline_url()
    row = override_row(owner, override_id)
    if row is None:
        _fail(f"no override {override_id}")
    try:
        add_override(
            planner_url(),
            level=row["level"], node_key=row["node_key"], date_from=row["date_from"],
            date_to=row["date_to"], kind=row["kind"], value=row["value"], reason=reason,
            author=author or getpass.getuser(), supersedes=override_id, status="retired",
        )  # fmt: skip
    except OverrideRefused as exc:
        _fail(f"refused: {exc}")
    typer.echo(f"retired override {override_id} ({reason})")
    if apply:
        _apply(owner)


@override_app.command("apply")
def apply_() -> None:
    """Apply the overrides in force to the served run again (the `apply_overrides` deployment
    does it every few minutes under `frycast serve`)."""
    _apply(pipeline_url())


def _apply(owner: str) -> None:
    from warehouse.forecast_store import published_run
    from warehouse.overrides_io import apply_to_run

    run_id = published_run(owner)
    if run_id is None:
        typer.echo("no published run yet: the first run applies the overrides")
        return
    app = apply_to_run(owner, run_id)
    out = app.outcomes
    held = int(out["applied"].sum()) if len(out) else 0
    typer.echo(
        f"run {run_id}: {held} of {len(out)} override(s) held, {app.node_days:,} node-days "
        f"adjusted in {app.seconds:.1f} s"
    )
    for row in out[~out["applied"]].itertuples() if len(out) else ():
        typer.echo(f"  override {row.override_id}: {row.message}")
