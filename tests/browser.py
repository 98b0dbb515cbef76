"""Headless Chromium (Debian's) for the browser tests, and a page that behaves as if offline.

    page = browser.new_page(); outside, failed, errors = offline(page)   # then goto, then assert all empty
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                    reason=f"{CHROMIUM} is absent (apt-get install chromium)")


def offline(page) -> tuple[list[str], list[str], list[str]]:
    """Refuse every request that leaves the machine, as one with no network would, and record it; record
    failed requests and console errors. Returns the three lists (outside, failed, errors), filled as the
    page runs."""
    outside: list[str] = []
    failed: list[str] = []
    errors: list[str] = []

    def guard(route):
        if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
            return route.continue_()
        outside.append(route.request.url)  # a CDN fetch: refuse it
        return route.abort()

    page.route("**/*", guard)
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return outside, failed, errors
