"""Adjust: a planner overrides the forecast of a node over a range of days, with a reason.

The page reads the marts as the reader login, like every page; it previews the override with
the pipeline's own maths (the node held, the hierarchy reconciled around it) before anything is
saved, and saves through the planner login, which may insert overrides and nothing else. The
served forecast holds a saved override once it is applied: by the next run, or within minutes
under `frycast serve`, or at once with `frycast override apply`.
"""

from __future__ import annotations

import getpass
from datetime import timedelta

import pandas as pd
import streamlit as st

from streamlit_app import charts, display, queries
from streamlit_app.app_pages._common import pick_node, published_or_stop
from warehouse.db import planner_url
from warehouse.overrides_io import OverrideRefused, add_override

KINDS = {
    "Set the range's total": "set_total",
    "Scale the forecast by a factor": "scale",
    "Set each day's units": "set_daily",
}

st.title("Adjust")
run = published_or_stop()
first = run["history_end"] + timedelta(days=1)
last = run["history_end"] + timedelta(days=int(run["horizon_days"]))

level, node = pick_node()
days = st.date_input(
    "Days (first and last)",
    value=(first, first + timedelta(days=6)),
    min_value=first,
    max_value=last,
    format="YYYY-MM-DD",
)
if not isinstance(days, tuple) or len(days) != 2:
    st.info("Pick the first and the last day of the range.")
    st.stop()
start, end = days
fc = queries.forecast_range(level, node, start, end)
statistical = float(fc["yhat_statistical"].sum())
st.altair_chart(
    charts.history_and_forecast(pd.DataFrame(columns=["date", "units"]), fc), width="stretch"
)
st.caption(
    f"{level} {node}, {start:%d %b %Y} to {end:%d %b %Y}: {statistical:,.0f} units forecast "
    f"statistically ({len(fc)} days), {fc['yhat'].sum():,.0f} served now; the band is the 80 % "
    "interval."
)

c4, c5 = st.columns(2)
kind_label = c4.radio("Adjustment", list(KINDS), horizontal=False)
kind = KINDS[kind_label]
default = {"set_total": round(statistical), "scale": 1.0, "set_daily": round(statistical / 7)}
value = c5.number_input(
    {"set_total": "Total units", "scale": "Factor", "set_daily": "Units each day"}[kind],
    min_value=0.0,
    value=float(default[kind]),
    step=0.05 if kind == "scale" else 1.0,
)
reason = st.text_input("Reason (a local event, road works, a marketing push)", "")
c6, c7 = st.columns(2)
author = c6.text_input("Your name", getpass.getuser())
expires = c7.date_input("Expires (optional)", value=None, min_value=start, format="YYYY-MM-DD")

new = {
    "level": level, "node_key": node, "date_from": start, "date_to": end, "kind": kind,
    "value": float(value), "author": author, "expires_on": expires, "reason": reason,
}  # fmt: skip
holds, message, effect = queries.override_preview(int(run["run_id"]), new)
st.subheader("Preview")
if holds:
    st.caption(
        "The served forecast over these days if it is saved: this node held, the nodes that "
        "contain it and the ones inside it reconciled around it (with the overrides in force)."
    )
    display.show(
        effect,
        column_config={
            "statistical": st.column_config.NumberColumn("statistical (units)", format="%,.0f"),
            "adjusted": st.column_config.NumberColumn("adjusted (units)", format="%,.0f"),
            "change_pct": st.column_config.NumberColumn("change", format="%+.1f %%"),
        },
    )
else:
    st.error(f"This adjustment cannot be applied: {message}")

if st.button("Save", type="primary", disabled=not holds or not reason.strip()):
    try:
        add_override(planner_url(), **new)
    except OverrideRefused as exc:
        st.error(f"Not saved: {exc}")
    else:
        queries.overrides.clear()
        queries.override_preview.clear()
        st.success(
            f"Saved: {level} {node}, {start} to {end}, by {author}. The served forecast holds it "
            "once applied: by the next run, within minutes under `frycast serve`, or now with "
            "`frycast override apply`."
        )
if not reason.strip():
    st.caption("Saving needs a reason: it is kept with the override, with your name.")

st.subheader("Overrides in force")
shown = queries.overrides()
if shown.empty:
    st.info("No overrides in force.")
else:
    shown = shown.assign(
        in_served_forecast=shown["held_in_served_run"]
        .map({True: "held", False: "not applied"})
        .fillna("pending (saved since the last application)")
    )
    display.show(
        shown[
            ["override_id", "level", "node_key", "date_from", "date_to", "kind", "value",
             "reason", "author", "created_at", "expires_on", "in_served_forecast", "outcome"]
        ]
    )  # fmt: skip
with st.expander("History: every change, retired and expired ones too"):
    display.show(queries.overrides(in_force_only=False))
