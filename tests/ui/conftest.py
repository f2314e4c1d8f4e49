"""What the dashboard tests share: pointing the dashboard at a module's own warehouse."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from frycast.settings import get_settings, kept_environ

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "streamlit_app" / "app_pages"
SHOTS = ROOT / "screenshots"  # git-ignored
CHROMIUM = shutil.which("chromium")  # Debian's, installed by .ci/run; the browser tests need it


@contextmanager
def dashboard_reads(url: str) -> Iterator[None]:
    """The dashboard reads ``url`` for the block. Streamlit's caches live as long as the process
    (the reader URL is a cached resource), so they are emptied on the way in and out: a module's
    pages would otherwise query the warehouse of the module before, dropped by then."""
    with kept_environ(["DATABASE_URL"], {"DATABASE_URL": url}):
        _forget()
        try:
            yield
        finally:
            _forget()
    get_settings.cache_clear()


def _forget() -> None:
    get_settings.cache_clear()
    st.cache_resource.clear()
    st.cache_data.clear()


def page(name: str) -> AppTest:
    """One dashboard page run through Streamlit's AppTest, with no exception raised."""
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at
