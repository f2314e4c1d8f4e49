"""What every page needs: the published run, or a clear message when there is none."""

from __future__ import annotations

import streamlit as st

from streamlit_app import queries


def published_or_stop() -> dict:
    run = queries.published_run()
    if run is None:
        st.info("No published forecast yet: run `frycast run` (or `make demo`).")
        st.stop()
    return run
