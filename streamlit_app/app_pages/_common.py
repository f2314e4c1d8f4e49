"""What pages share: the published run (or a clear message when there is none) and the node
picker."""

from __future__ import annotations

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
    search = c2.text_input("Search", "")
    options = queries.nodes(level, search)
    if not options:
        st.warning("No node matches.")
        st.stop()
    return level, c3.selectbox("Node", options)
