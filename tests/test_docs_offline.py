"""/docs renders offline in a real browser, for every service: Swagger UI's assets come from the
installed package, no request leaves the machine, nothing fails, the console stays clean."""

from __future__ import annotations

import pytest

from shared.config import get_settings
from tests.browser import ARGS, CHROMIUM, needs_chromium, offline
from tests.services import SERVICES, serve_in_thread

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.mark.parametrize("service", SERVICES, ids=str)
def test_docs_render_with_no_network(service, browser, tmp_path):
    app = service.factory(get_settings(data_dir=tmp_path / "data"))
    with serve_in_thread(app) as base:
        page = browser.new_page()
        outside, failed, errors = offline(page)
        page.goto(f"{base}/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        operations = page.locator(".opblock").count()
        page.close()
    assert not outside, f"/docs fetched from outside: {outside}"
    assert not failed and not errors, (failed, errors)
    assert operations >= 4, "the operations (at least /healthz, /readyz, /metrics and a lab route) are listed"
