"""The home page `make up` serves: every lab listed from discover(), readiness probed live, links built
for the ports the labs really serve on. (tests/test_cli.py checks it against a full `make up`.)"""

from __future__ import annotations

import time

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from labs import discover
from labs.home import chapter, create_app, html_pages
from shared.service import create_service
from tests.browser import ARGS, CHROMIUM, needs_chromium
from tests.services import free_port, serve_in_thread


def test_every_lab_is_listed_with_its_chapter_and_port(settings):
    page = TestClient(create_app(settings, port_offset=100)).get("/").text
    for lab in discover():
        title = chapter(lab)
        assert title and title != lab.name and "lab" not in title.lower()[:4], (lab.name, title)
        assert f'data-name="{lab.name}" data-port="{lab.port + 100}"' in page


def test_html_pages_are_found_from_the_schema():
    app = FastAPI()

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard() -> HTMLResponse:
        return HTMLResponse("<p>hi</p>")

    @app.get("/runs/{run_id}/report", response_class=HTMLResponse)
    def report(run_id: str) -> HTMLResponse:
        return HTMLResponse(run_id)

    @app.get("/data")
    def data() -> dict:
        return {}

    assert html_pages(app.openapi()) == ["/dashboard"]  # a page needs no id to open; JSON is not a page


def _two_services(settings):
    """A live service that is ready, one that is up but not ready, and a port nobody serves."""
    ready = create_service("up", lab="up", settings=settings)

    @ready.get("/page", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse("<p>page</p>")

    warming = create_service("warming", lab="warming", settings=settings,
                             readiness={"index": lambda: (_ for _ in ()).throw(RuntimeError("loading: step 1/2"))})
    return ready, warming


def test_status_says_ready_not_ready_and_down(settings):
    ready, warming = _two_services(settings)
    home = create_app(settings)
    with serve_in_thread(ready) as up, serve_in_thread(warming) as slow:
        ports = [int(up.rsplit(":", 1)[1]), int(slow.rsplit(":", 1)[1]), free_port()]
        _point_home_at(home, ports)
        rows = {r["name"]: r for r in TestClient(home).get("/status").json()}
    assert rows["a"]["state"] == "ready" and rows["a"]["pages"] == ["/page"]
    assert rows["b"]["state"] == "not ready" and "loading: step 1/2" in rows["b"]["detail"]
    assert rows["c"]["state"] == "down" and rows["c"]["pages"] == []


def test_a_slow_schema_still_gives_the_pages_and_is_read_once_per_life(settings, monkeypatch):
    """A lab builds /openapi.json on its first request, slowly beside fourteen others warming up: the pages
    are read with their own timeout (not readiness' short one), kept while the lab stays up, read again
    after it was down."""
    import labs.home

    monkeypatch.setattr(labs.home, "PROBE_TIMEOUT_S", 0.2)
    ready, _ = _two_services(settings)
    built, schema = [], ready.openapi

    def slow_schema() -> dict:
        built.append(1)
        time.sleep(0.6)  # 3x the readiness timeout
        return schema()

    ready.openapi = slow_schema
    home = create_app(settings)
    client = TestClient(home)
    with serve_in_thread(ready) as up:
        _point_home_at(home, [int(up.rsplit(":", 1)[1]), free_port(), free_port()])
        first, second = (client.get("/status").json()[0] for _ in range(2))
    assert first["state"] == second["state"] == "ready"
    assert first["pages"] == second["pages"] == ["/page"] and len(built) == 1
    assert client.get("/status").json()[0]["state"] == "down"  # the same port, nobody serving it now
    assert home.state.home.known_pages == {}  # so a restarted lab's schema is read afresh


def _point_home_at(app: FastAPI, ports: list[int]) -> None:
    app.state.home.services = lambda: list(zip("abc", ports, strict=True))


def test_a_readme_renders_and_an_unknown_lab_is_a_404(settings):
    client = TestClient(create_app(settings))
    lab = discover()[0]
    page = client.get(f"/readme/{lab.key}")
    assert page.status_code == 200 and "<table>" in page.text and chapter(lab) in page.text
    assert client.get("/readme/99").json()["error"]["type"] == "not_found"
    assert client.get("/readme/..%2F..").status_code in (404, 422)


@pytest.mark.browser
@needs_chromium
def test_the_page_shows_live_readiness_in_a_browser(settings):
    from playwright.sync_api import sync_playwright

    ready, warming = _two_services(settings)
    home = create_app(settings)
    with serve_in_thread(ready) as up, serve_in_thread(warming) as slow, serve_in_thread(home) as base:
        ports = [int(up.rsplit(":", 1)[1]), int(slow.rsplit(":", 1)[1]), free_port()]
        home.state.home.services = lambda: [("mock", ports[0]), (discover()[0].name, ports[1])]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            errors, failed = [], []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.goto(base + "/")
            page.wait_for_selector("body[data-refreshed]", timeout=20_000)
            mock_row = page.locator('tr[data-name="mock"]')
            lab_row = page.locator(f'tr[data-name="{discover()[0].name}"]')
            assert mock_row.locator(".state").inner_text() == "ready"
            assert "not ready" in lab_row.locator(".state").inner_text()
            assert mock_row.locator(".pages a").get_attribute("href") == f"http://127.0.0.1:{ports[0]}/page"
            docs = lab_row.locator("a.port-link").get_attribute("href")
            assert docs == f"http://127.0.0.1:{discover()[0].port}/docs"
            seen_failed = list(failed)  # leaving the page aborts its next poll: not a failure of the page
            readme = lab_row.locator("a", has_text="README")
            readme.click()
            page.wait_for_load_state()
            assert chapter(discover()[0]) in page.content()
            browser.close()
    assert not errors and not seen_failed, (errors, seen_failed)
