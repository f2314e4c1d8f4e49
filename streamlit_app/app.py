"""frycast's dashboard: one entry, pages in app_pages/. Reads the marts only (read-only role).

Run with `make ui` (or `frycast ui`).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="frycast", page_icon="🍟", layout="wide")

PAGES = Path(__file__).parent / "app_pages"
nav = st.navigation(
    [
        st.Page(PAGES / "overview.py", title="Overview", default=True),
        st.Page(PAGES / "explorer.py", title="Forecast explorer"),
        st.Page(PAGES / "adjust.py", title="Adjust"),
        st.Page(PAGES / "accuracy.py", title="Accuracy"),
        st.Page(PAGES / "data_quality.py", title="Data quality"),
        st.Page(PAGES / "agents.py", title="Agents"),
        st.Page(PAGES / "drift.py", title="Drift"),
        st.Page(PAGES / "runs.py", title="Runs"),
    ]
)
nav.run()
