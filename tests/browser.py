"""Headless Chromium for page tests: Debian's ``chromium`` driven by Playwright's Python
API (Playwright's own browser download cannot work offline). ``.ci/run`` installs
chromium when it is missing; where no browser can be had at all, the browser tests
are skipped with a visible reason, never silently."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """The system Chromium, if installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``) for the whole session."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium on this machine (apt-get install chromium); browser tests skipped")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright); browser tests skipped")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (its own context) with JavaScript dialogs recorded in ``page.dialogs``."""
    context = browser.new_context()
    new_page = context.new_page()
    new_page.dialogs = []
    new_page.on("dialog", lambda d: (new_page.dialogs.append(d.message), d.dismiss()))
    try:
        yield new_page
    finally:
        context.close()
