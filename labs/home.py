"""The home page: every lab with its chapter, port, live readiness and links to /docs, README and pages.

    make up                        # serves it on http://127.0.0.1:8080 beside the mock and every lab
    python -m labs home            # the page alone (the labs it lists may be up or not)
    curl -s localhost:8080/status  # what the page polls: each service's /readyz, as the server sees it

Nothing here names a lab: the list comes from `labs.discover()`, each chapter's title from the first
heading of the lab's README, and each lab's own pages (lab-09's dashboard ...) from the GET routes its
OpenAPI schema says answer text/html. A lab that lands appears here without an edit.

Readiness is fetched server-side (the page would need CORS on every lab to read another port), with a
short timeout per service, all at once, so one slow or dead lab costs the page 1.5 s, not 15 x that.
A lab's pages come from its /openapi.json, which it builds on the first request: beside fourteen labs
warming up on two cores that can take longer than the readiness timeout, so the schema gets its own
longer one, is fetched once per service while it stays up, and is fetched again once it has been down.
"""

from __future__ import annotations

import asyncio
import html
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, FastAPI, Path
from fastapi.responses import HTMLResponse
from markdown_it import MarkdownIt

from labs import MOCK_PORT, Lab, discover, get
from shared.config import Settings
from shared.service import create_service, not_found

HOME_PORT = 8080
PROBE_TIMEOUT_S = 1.5
SCHEMA_TIMEOUT_S = 15.0
LabKey = Annotated[str, Path(pattern=r"^\d{2}$", description="the lab's two-digit number, e.g. 06")]


def chapter(lab: Lab) -> str:
    """The chapter's title from the lab README's first heading (`# lab-06: Retrieval and RAG`)."""
    readme = lab.folder / "README.md"
    first = readme.read_text(encoding="utf-8").splitlines()[0] if readme.is_file() else ""
    return first.lstrip("# ").partition(": ")[2].strip() or lab.name


def html_pages(openapi: dict[str, Any]) -> list[str]:
    """The GET routes without path parameters whose 200 answer is text/html: a lab's pages for people."""
    pages = []
    for path, ops in openapi.get("paths", {}).items():
        content = ops.get("get", {}).get("responses", {}).get("200", {}).get("content", {})
        if "{" not in path and "text/html" in content and path not in ("/docs", "/redoc"):
            pages.append(path)
    return sorted(pages)


async def probe(client: httpx.AsyncClient, name: str, base: str,
                known_pages: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """One service's readiness (`ready`, the reason it is not, or `down`) and its HTML pages.

    `known_pages` (base URL -> pages) keeps each up service's pages between probes; a service found down
    is dropped from it, so a restarted lab's schema is read again."""
    known_pages = {} if known_pages is None else known_pages
    try:
        ready = await client.get(f"{base}/readyz")
    except httpx.HTTPError as exc:
        known_pages.pop(base, None)
        return {"name": name, "state": "down", "detail": type(exc).__name__, "pages": []}
    try:
        body = ready.json()
    except ValueError:
        body = {}
    error = body.get("error") or {}
    checks = error.get("checks") or body.get("checks") or {}
    failing = [f"{name}: {c.get('detail')}" for name, c in checks.items() if isinstance(c, dict) and not c.get("ok")]
    state = "ready" if ready.status_code == 200 else "not ready"
    detail = "; ".join(failing) or (error.get("message", "") if state != "ready" else "")
    if ready.status_code == 200 and base not in known_pages:
        try:
            schema = await client.get(f"{base}/openapi.json", timeout=SCHEMA_TIMEOUT_S)
            if schema.status_code == 200:
                known_pages[base] = html_pages(schema.json())
        except (httpx.HTTPError, ValueError):
            pass  # read again on the next probe
    pages = known_pages.get(base, []) if ready.status_code == 200 else []
    return {"name": name, "state": state, "detail": detail[:300], "pages": pages}


class Home:
    def __init__(self, host: str, port_offset: int):
        self.host, self.offset = host, port_offset
        self.labs = discover()
        self.known_pages: dict[str, list[str]] = {}

    def services(self) -> list[tuple[str, int]]:
        return [("mock", MOCK_PORT + self.offset)] + [(lab.name, lab.port + self.offset) for lab in self.labs]

    async def status(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S) as client:
            found = await asyncio.gather(*(probe(client, name, f"http://{self.host}:{port}", self.known_pages)
                                           for name, port in self.services()))
        return [{**row, "port": port} for row, (_, port) in zip(found, self.services(), strict=True)]

    def page(self) -> str:
        rows = [("mock", "—", "The mock LLM provider (every lab's model calls)", MOCK_PORT + self.offset, None)]
        rows += [(lab.name, lab.key, chapter(lab), lab.port + self.offset, lab.key) for lab in self.labs]
        body = "\n".join(
            f'<tr data-name="{html.escape(name)}" data-port="{port}"><td>{key}</td><td>{html.escape(title)}</td>'
            f'<td><code>{port}</code></td><td class="state">…</td><td class="links">'
            f'<a class="port-link" data-path="/docs" href="#">/docs</a>'
            + (f' · <a href="/readme/{readme}">README</a>' if readme else "")
            + '<span class="pages"></span></td></tr>'
            for name, key, title, port, readme in rows)
        return PAGE.replace("{{ROWS}}", body)


def home_router(home: Home) -> APIRouter:
    router = APIRouter(tags=["home"])

    @router.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        """Every lab: chapter, port, live readiness, links to its /docs, README and pages."""
        return HTMLResponse(home.page())

    @router.get("/status")
    async def status() -> list[dict[str, Any]]:
        """Each service's readiness and HTML pages, probed now (what the page polls every 2 s)."""
        return await home.status()

    @router.get("/readme/{key}", response_class=HTMLResponse)
    def readme(key: LabKey) -> HTMLResponse:
        """A lab's README rendered as HTML."""
        try:
            lab = get(key)
        except KeyError as exc:
            raise not_found("lab", key) from exc
        text = (lab.folder / "README.md").read_text(encoding="utf-8")
        rendered = MarkdownIt("commonmark").enable("table").render(text)
        return HTMLResponse(README_PAGE.replace("{{TITLE}}", html.escape(lab.name)).replace("{{BODY}}", rendered))

    return router


def create_app(settings: Settings | None = None, *, host: str = "127.0.0.1", port_offset: int = 0) -> FastAPI:
    home = Home(host, port_offset)
    app = create_service("Labs home", lab="home", settings=settings,
                         description="Every lab with its chapter, port, live readiness and links.",
                         readiness={"labs": lambda: f"{len(home.labs)} labs discovered"})
    app.state.home = home
    app.include_router(home_router(home))
    return app


STYLE = """body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{padding:.35rem .6rem;border-bottom:1px solid #ddd;text-align:left}
.ready{color:#176b2c;font-weight:600}.not{color:#a15c00}.down{color:#999}code{background:#f3f3f3;padding:0 .2rem}
pre{background:#f6f6f6;padding:.6rem;overflow:auto}"""

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Labs</title>
<link rel="icon" href="data:,"><style>""" + STYLE + """</style></head><body>
<h1>Applied AI engineering: the labs</h1>
<p>Each lab serves its chapter on its own port. Readiness refreshes every 2 s (<code>/readyz</code> of each).</p>
<table><thead><tr><th>lab</th><th>chapter</th><th>port</th><th>readiness</th><th>links</th></tr></thead>
<tbody>{{ROWS}}</tbody></table>
<script>
const base = port => `${location.protocol}//${location.hostname}:${port}`;
for (const a of document.querySelectorAll("a.port-link"))
  a.href = base(a.closest("tr").dataset.port) + a.dataset.path;
async function refresh() {
  let rows;
  try { rows = await (await fetch("/status")).json(); } catch (e) { return; }
  for (const s of rows) {
    const tr = document.querySelector(`tr[data-name="${s.name}"]`);
    if (!tr) continue;
    const cell = tr.querySelector(".state");
    cell.textContent = s.state + (s.detail ? ` (${s.detail})` : "");
    cell.className = "state " + (s.state === "ready" ? "ready" : s.state === "down" ? "down" : "not");
    const pages = tr.querySelector(".pages");
    pages.replaceChildren(...s.pages.flatMap(p => {
      const a = document.createElement("a"); a.href = base(s.port) + p; a.textContent = p;
      return [document.createTextNode(" · "), a];
    }));
  }
  document.body.dataset.refreshed = String(Date.now());
}
refresh(); setInterval(refresh, 2000);
</script></body></html>"""

README_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{TITLE}}</title>
<link rel="icon" href="data:,"><style>""" + STYLE + """</style></head><body>
<p><a href="/">all labs</a></p>{{BODY}}</body></html>"""
