"""Headless Chromium for page tests: Debian's ``chromium`` driven by Playwright's Python
API (Playwright's own browser download cannot work offline). ``scripts/test.sh`` (and so
``.ci/run``) installs chromium when it is missing; without it the browser tests fail with
that advice, never skip."""

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
        pytest.fail(
            "no chromium on this machine: run scripts/test.sh (it installs it) or apt-get install chromium"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: run scripts/test.sh (it installs the dev extras)")
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
