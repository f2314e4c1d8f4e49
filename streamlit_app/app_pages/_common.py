"""What pages share: the published run (or a clear message when there is none), the node
picker (names and codes), and the note on a forecast that starts in the past."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st

from streamlit_app import queries


def published_or_stop() -> dict:
    run = queries.published_run()
    if run is None:
        st.info("No published forecast yet: run `frycast run` (or `make demo`).")
        st.stop()
    return run


def pick_node() -> tuple[str, str]:
    """A level, a search box and a node of that level (the explorer's and the Adjust page's)."""
    c1, c2, c3 = st.columns([1, 1, 2])
    level = c1.selectbox("Level", queries.LEVELS, index=0)
    search = c2.text_input("Search (name or code)", "")
    options = queries.nodes(level, search)
    if not options:
        st.warning(f"No {level.replace('_', ' ')} matches “{search}” (names or codes).")
        st.stop()
    key = c3.selectbox(
        "Node",
        list(options),
        format_func=lambda k: options[k] if options[k] == k else f"{options[k]} ({k})",
    )
    return level, key


def note_if_in_the_past(history_end: date, run_id: int) -> None:
    """Say so when a forecast starts before today: its "next 12 months" are the 12 months after
    the data's last day, not after today."""
    history_end = pd.Timestamp(history_end).date()  # a date from psycopg, or a Timestamp
    start = history_end + timedelta(days=1)
    behind = (date.today() - start).days
    if behind > 0:
        st.warning(
            f"Run {run_id}'s forecast starts on {start:%d %b %Y}, {behind:,} days before today, "
            f"because its data ends on {history_end:%d %b %Y}. Its “next 12 months” are the 12 "
            "months from that day, not from today; new sales data moves the start."
        )
