"""The dashboard in headless Chromium (the system browser): numbers from calls just made appear on it,
its charts draw them, and it loads with no network: no request leaves the machine, none fails (no
favicon 404), the console stays clean."""

from __future__ import annotations

import httpx
import pytest

from labs.lab09_gateway.app import create_app
from shared.config import get_settings
from tests.browser import ARGS, CHROMIUM, needs_chromium, offline
from tests.services import serve_in_thread

pytestmark = [pytest.mark.browser, needs_chromium]


def test_dashboard_shows_the_calls_just_made(tmp_path):
    from playwright.sync_api import sync_playwright

    app = create_app(get_settings(data_dir=tmp_path / "data"))
    with serve_in_thread(app) as base:
        # keep only what tail sampling must keep: the error trace (and any call slower than 1 s)
        assert httpx.put(f"{base}/admin/sampling", json={"p": 0, "slow_ms": 1000},
                         headers={"authorization": "Bearer sk-lab09-admin"}).status_code == 200
        for i in range(7):
            httpx.post(f"{base}/v1/chat/completions", timeout=30,
                       headers={"authorization": "Bearer sk-lab09-acme", "x-prompt-version": "v9",
                                **({"x-mock-error-status": "500"} if i == 0 else {})},
                       json={"model": "assistant", "messages": [{"role": "user", "content": "What is 6 * 7?"}]})
        data = httpx.get(f"{base}/dashboard/data", timeout=30).json()
        row = data["golden"]["rows"][0]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            outside, failed, errors = offline(page)
            page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/dashboard")
            page.wait_for_selector("body[data-loaded='1']", timeout=20_000)
            points = {c: int(page.get_attribute(f"#chart-{c} svg", "data-points") or 0)
                      for c in ("latency", "errors", "cost", "burn")}
            circles = page.locator("#chart-latency svg circle.pt").count()
            y_label = page.text_content("#chart-latency svg .axes")
            inflight = page.inner_text("#inflight")
            golden = page.inner_text("#golden tbody")
            versions = page.inner_text("#cost-version tbody")
            slo_text = page.inner_text("#slo tbody")
            traces = page.inner_text("#traces")
            kept_line = page.inner_text("#sampling")
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            browser.close()
    assert not outside and not failed and not errors, (outside, failed, errors)
    # 6 successful calls: p50, p90, p99 each drawn (all in the newest bucket or two); one error and its cost too
    assert points["latency"] == circles >= 3 and points["errors"] >= 1 and points["cost"] >= 2
    assert points["burn"] >= 2, "availability and latency burn rates have events"
    assert "latency (ms)" in (y_label or "")
    assert "{" not in inflight and ("none" in inflight or ":" in inflight)
    assert "assistant\tacme\t7\t" in golden and "0 / 1 / 0" in golden
    assert f"{row['error_rate']}" in golden
    assert "v9" in versions and "availability" in slo_text and "page-fast" in slo_text
    assert "chat mock/assistant" in traces and "error.type=" in traces and "status 502" in traces
    sm = data["sampling"]
    assert sm["traces"] == 7 and sm["by_reason"]["error"] == 1 and sm["dropped"] >= 1
    assert f"kept {sm['kept']} of 7 traces" in kept_line and "error 1" in kept_line
    assert "status 200" not in traces or sm["by_reason"]["slow"] > 0
    assert (tmp_path / "dashboard.png").stat().st_size > 5000
