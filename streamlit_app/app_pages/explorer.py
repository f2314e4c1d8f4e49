from __future__ import annotations

import pandas as pd
import streamlit as st

from ml.models import RULES
from streamlit_app import charts, display, queries, tables
from streamlit_app.app_pages._common import note_if_in_the_past, pick_node, published_or_stop

st.title("Forecast explorer")
run = published_or_stop()

level, node = pick_node()
c4, c5 = st.columns([3, 1])
history_days = c4.slider("History shown (days)", 28, 730, 180, step=7)
grain = c5.radio("Grain", tables.GRAINS, horizontal=True)

runs = queries.runs()
others = runs[(runs["status"] == "succeeded") & (runs["run_id"] != run["run_id"])]["run_id"]
compare_run = st.selectbox("Compare with run", [None, *others.tolist()])

fc, shown_run = queries.node_forecast(level, node), run
if fc.empty:
    # a node the published run leaves out (a restaurant whose data ends long before the others'):
    # the newest run that forecast it, from its own last day
    other = queries.latest_run_with(level, node)
    if other is None:
        st.warning(
            f"No run forecasts this node yet. The published run {run['run_id']} leaves it out "
            "(its data ends long before the others'?); `frycast forecast --restaurant <id>` "
            "forecasts such a restaurant alone, from its own last day."
        )
        st.stop()
    shown_run = other
    fc = queries.node_forecast(level, node, int(other["run_id"]))
    st.info(
        f"The published run {run['run_id']} leaves this node out: its data ends long before the "
        f"others'. Shown: run {other['run_id']}, which forecast it alone from its own last day, "
        f"{other['history_end']:%d %b %Y} (not published; it serves no other node)."
    )
note_if_in_the_past(shown_run["history_end"], shown_run["run_id"])
start, end = fc["date"].min(), fc["date"].max()
hist = queries.node_history(level, node, history_days)
last_year = queries.node_actuals(level, node, start - tables.LAST_YEAR, end - tables.LAST_YEAR)
cmp = queries.node_forecast(level, node, int(compare_run)) if compare_run else None
region = node if level == "region" else None
hol = queries.holidays(region, start, end)
promo = queries.promotions(level, node, start, end)

# one table, at the chosen grain, drives the chart, the table shown and both downloads
table = tables.explorer_table(fc, last_year, grain)
chart = charts.history_and_forecast(
    tables.by_grain(hist, grain, ["units"]),
    table,
    hol,
    tables.by_grain(cmp, grain, ["yhat"]) if cmp is not None else None,
    promo,
    per=grain.lower(),
)
st.altair_chart(chart, width="stretch")
st.caption(
    "Orange dashed lines: public holidays; green ticks: planned promotions. Grey dotted line and "
    "“same days last year”: the actuals of the same days last year, weekday-aligned (364 days "
    "earlier); “vs last year” is the forecast against them. Blank where a day (at week or "
    "month grain: any day of the period) has no actual, never a total of fewer days."
)
if grain != "Day":
    st.caption(
        f"{grain} totals ({'Monday to Sunday' if grain == 'Week' else 'calendar months'}), "
        "dated by their first day. A period the data cuts short is marked partial (circled on "
        "the chart) and “days” says how many days it holds. The 80 % band is shown at day grain "
        "only: the band of a sum is not the sum of the daily bands, and the marts keep none."
    )
adjusted = queries.node_adjustment(level, node)
if adjusted["days"]:
    st.info(
        f"Planners' overrides adjust this node on {adjusted['days']:,} day(s)"
        + (f" (held exactly on {adjusted['held_days']:,})" if adjusted["held_days"] else "")
        + f": {adjusted['statistical']:,.0f} units statistically, {adjusted['adjusted']:,.0f} "
        "served on those days, the band moved with them. The Adjust page lists the overrides."
    )
model = fc["model"].iloc[0]
base_model = fc["base_model"].iloc[0]
st.caption(
    f"Model: {model}"
    + (f" (base forecast: {base_model})" if pd.notna(base_model) else "")
    + f" · next 12 months: {fc['yhat'].sum():,.0f} units"
)

# why: the global models' drivers by month; a baseline's number is its rule
st.subheader("Why this forecast")
why = queries.node_drivers(level, node)
if why.empty:
    source = base_model if pd.notna(base_model) else model
    st.caption(f"{source}: {RULES.get(source, 'no rule recorded for this model')}.")
else:
    months = why["month"].drop_duplicates().tolist()
    month = st.selectbox("Month", months, format_func=lambda m: f"{m:%B %Y}")
    shown_month = why[why["month"] == month]
    st.altair_chart(charts.drivers(shown_month), width="stretch")
    st.caption(
        f"{why['model'].iloc[0]}'s forecast for {month:%B %Y}: "
        f"{shown_month['model_units'].iloc[0]:,.0f} units = the base (the node's recent daily "
        "level over the month) plus what each group of features adds or takes away (TreeSHAP). "
        "Before the chance of opening and reconciliation."
    )

shown = table.assign(date=table["date"].dt.date)
name = f"forecast_{level}_{node.replace('/', '_')}_{grain.lower()}"
d1, d2 = st.columns(2)
d1.download_button(
    "Download this table (CSV)",
    shown.to_csv(index=False).encode(),
    file_name=f"{name}.csv",
    mime="text/csv",
)
d2.download_button(
    "Download this table (Excel)",
    tables.xlsx(shown),
    file_name=f"{name}.xlsx",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)
display.show(shown)
