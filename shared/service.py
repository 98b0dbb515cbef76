"""The service shell every lab is built on: health, readiness, docs, metrics, request ids, JSON errors.

    from shared.service import create_service
    app = create_service("lab-06 retrieval", lab="lab06", readiness={"index": lambda: index.ready})

What every app gets:
- `GET /healthz` (process is up), `GET /readyz` (runs the lab's readiness checks, 503 if any fails),
  `GET /docs` (OpenAPI UI), `GET /metrics` (Prometheus text: HTTP metrics plus the GenAI metrics).
- `X-Request-ID`: echoed when the client sends a sane one, otherwise made; it is in every error
  body and every log line about the request.
- One error envelope for every failure: {"error": {"type", "message", "request_id", ...}}.
  Malformed JSON is a 400, schema violations a 422, unknown routes 404, wrong methods 405.
  An unhandled exception is logged with the request id and answered as a JSON 500 with no trace.
- OpenTelemetry spans for every request (FastAPI instrumentation), exported as `shared.telemetry` says.
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.config import Settings, get_settings
from shared.telemetry import setup_telemetry

log = logging.getLogger("aieng.service")

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_REQUEST_ID_KEY = REQUEST_ID_HEADER.encode()


class _RequestIds:
    """32 hex characters unique to each request: a random 80-bit prefix for the process and a 48-bit
    counter. uuid4() reads the kernel's random source on every call (a system call, ~10 us per request
    under load); an id only has to be unique, not unpredictable. A forked worker draws its own prefix."""

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        self.prefix, self.counter = secrets.token_hex(10), itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFFFFFF:012x}"


_request_ids = _RequestIds()

HTTP_REQUESTS = Counter("http_requests", "HTTP requests served", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram("http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"],
                         buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

STATUS_TYPES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 408: "request_timeout", 409: "conflict", 410: "gone", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited", 500: "internal_error",
    501: "not_implemented", 502: "bad_gateway", 503: "unavailable", 504: "gateway_timeout",
}


class ServiceError(Exception):
    """Raise from a route or a domain module to answer with a JSON error of your choosing."""

    def __init__(self, status: int, message: str, type: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or STATUS_TYPES.get(status, "error")
        self.headers = headers or {}
        self.extra = extra


def not_found(what: str, key: Any) -> ServiceError:
    return ServiceError(404, f"{what} {key!r} not found", "not_found")


def error_body(status: int, message: str, request_id: str | None, type: str | None = None,
               **extra: Any) -> dict[str, Any]:
    return {"error": {"type": type or STATUS_TYPES.get(status, "error"), "message": message,
                      "request_id": request_id, **jsonable_encoder(extra)}}


def _request_id(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def _json_error(request: Request, status: int, message: str, type: str | None = None,
                headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(status, message, _request_id(request), type, **extra), status_code=status,
                        headers=headers)


class RequestContextMiddleware:
    """Request ids, the HTTP metrics, and the JSON 500 for an unhandled error, in one pure ASGI middleware
    (no buffering, so streaming responses pass through untouched; one `send` wrapper per request).

    An unhandled exception is answered here, inside the app, and not re-raised. Starlette's outermost
    error middleware sends its 500 and then re-raises, and uvicorn answers a re-raised error by closing
    the connection: the client's next request on that keep-alive connection is reset. A failure must
    cost one request, not the connection. If the response had already started (a stream that broke
    half-way), closing is the only honest end, so that re-raises.
    """

    def __init__(self, app, service: str):
        self.app = app
        self.service = service
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}  # bounded: routes are templates

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        incoming = next((v for k, v in scope.get("headers") or () if k == _REQUEST_ID_KEY), b"").decode("latin-1")
        request_id = incoming if incoming and _SAFE_REQUEST_ID.match(incoming) else _request_ids.next()
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status = None  # set when the response starts

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*(message.get("headers") or ()),
                                                  (_REQUEST_ID_KEY, request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error request_id=%s path=%s", request_id, scope.get("path"))
            if status is not None:
                raise
            body = json.dumps(error_body(500, "internal error; see the server log for this request id",
                                         request_id, "internal_error")).encode()
            await send_with_id({"type": "http.response.start", "status": 500,
                                "headers": [(b"content-type", b"application/json"),
                                            (b"content-length", str(len(body)).encode())]})
            await send_with_id({"type": "http.response.body", "body": body})
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "GET")
            key = (method, route, 500 if status is None else status)
            if (series := self._series.get(key)) is None:  # labels() validates and locks on every call
                series = self._series[key] = (HTTP_REQUESTS.labels(self.service, method, route, str(key[2])),
                                              HTTP_LATENCY.labels(self.service, method, route))
            series[0].inc()
            series[1].observe(time.perf_counter() - start)


Check = Callable[[], Any]


def _run_check(check: Check) -> tuple[bool, str]:
    try:
        result = check()
    except Exception as exc:  # a readiness probe reports failures, it does not raise them
        return False, f"{type(exc).__name__}: {exc}"[:300]
    if result is None or result is True:
        return True, "ok"
    if result is False:
        return False, "failed"
    return True, str(result)


WARMUP_THREAD = "warmup"  # the name of each Warmup's thread
_settled = False
_settle_lock = threading.Lock()


def settle_heap() -> bool:
    """Put every object alive now out of the cyclic garbage collector's reach, once per process.

    Called when a server's warm-up has finished, and by CLIs before their hot loop. What is alive then
    (imported modules, pydantic schemas, loaded models: about 500,000 objects once LiteLLM, torch and
    FastAPI are in) lives as long as the process, yet every full collection walks all of it: 0.2-0.3 s
    holding the GIL, a pause that lands on whatever requests are in flight (lab-08's runner bench has
    measured 0.29 s for one, in a run of 5.3 s of CPU). gc.freeze() moves them to a permanent
    generation that collections skip. They are still freed by reference counting; only a reference cycle
    among them that becomes garbage later is never collected, and gc.collect() first clears the cycles
    that are garbage now. Returns False when an earlier call already did it.
    """
    global _settled
    with _settle_lock:
        if _settled:
            return False
        _settled = True
    gc.collect()
    gc.freeze()
    return True


class Warmup:
    """Heavy imports and model loads, run once in a background thread when the server starts.

    Each named step is also a readiness check: `/readyz` answers 503 "warming up" until the step has
    finished, and names the error if it failed, so a load balancer sends no request that would pay for
    (or time out on) a cold import. `wait()` blocks until every step is done (tests, CLIs).
    """

    def __init__(self, steps: dict[str, Check]):
        self.steps = dict(steps)
        self.results: dict[str, tuple[bool, str]] = {}
        self.done = threading.Event()
        self._started = False
        self._lock = threading.Lock()
        self.current = f"loading: step 0/{len(self.steps)}"

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._run, name=WARMUP_THREAD, daemon=True).start()

    def _run(self) -> None:
        began = time.perf_counter()
        total = len(self.steps)
        for i, (name, step) in enumerate(self.steps.items(), start=1):
            self.current = f"loading: step {i}/{total} ({name})"
            log.info("warm-up %d/%d: %s ...", i, total, name)
            t0 = time.perf_counter()
            self.results[name] = ok, detail = _run_check(step)
            log.log(logging.INFO if ok else logging.ERROR, "warm-up %d/%d: %s %s in %.1f s (%s)", i, total, name,
                    "done" if ok else "FAILED", time.perf_counter() - t0, str(detail)[:200])
        self.current = "done"
        log.info("warm-up finished in %.1f s: %s", time.perf_counter() - began,
                 "ready" if all(ok for ok, _ in self.results.values()) else "NOT ready (see /readyz)")
        settle_heap()
        self.done.set()

    def wait(self, timeout: float | None = None) -> bool:
        self.start()
        return self.done.wait(timeout)

    def check(self, name: str) -> Check:
        def probe() -> Any:
            if name not in self.results:
                raise RuntimeError(f"warming up: {self.current}")
            ok, detail = self.results[name]
            if not ok:
                raise RuntimeError(detail)
            return detail
        return probe


def _query_names(route: Any) -> frozenset[str]:
    """The query parameters a route declares (its own and its dependencies'), by the name a client sends."""
    names = getattr(route, "_query_names", None)  # kept on the route: it lives exactly as long as they do
    if names is None:
        found: set[str] = set()
        pending = [route.dependant]
        while pending:
            dependant = pending.pop()
            pending.extend(dependant.dependencies)
            for field in dependant.query_params:
                model = field.field_info.annotation
                if isinstance(model, type) and issubclass(model, BaseModel):  # a model as the whole query
                    found.update(f.alias or name for name, f in model.model_fields.items())
                else:
                    found.add(field.alias)
        names = route._query_names = frozenset(found)
    return names


async def known_query_only(request: Request) -> None:
    """422 for a query parameter the route does not take, as the bodies' StrictModel does for fields:
    `?dept=10` on a route that takes `depth` would otherwise answer for the default depth, silently."""
    if not request.scope.get("query_string"):
        return
    route = request.scope.get("route")
    if route is None or not hasattr(route, "dependant"):
        return
    known = _query_names(route)
    unknown = [name for name in dict.fromkeys(request.query_params) if name not in known]
    if unknown:
        takes = f"it takes: {', '.join(sorted(known))}" if known else "it takes no query parameters"
        raise RequestValidationError([{"loc": ("query", name), "type": "extra_forbidden",
                                       "msg": f"not a parameter of this route ({takes})"}
                                      for name in unknown])


def create_service(title: str, *, lab: str, description: str = "", version: str = "0.1.0",
                   settings: Settings | None = None, readiness: dict[str, Check] | None = None,
                   warmup: dict[str, Check] | None = None, instrument: bool = True,
                   strict_query: bool = True) -> FastAPI:
    """A FastAPI app with the project's health, readiness, metrics, errors and tracing.

    `warmup` names the slow start-up steps (`{"model": model.warm}`): they run in the background when
    the server starts and `/readyz` is 503 until each has finished. `strict_query` answers 422 to a query
    parameter a route does not declare (`known_query_only`); the mock turns it off, as a provider's API
    takes query parameters clients add on their own.
    """
    settings = settings or get_settings()
    setup_telemetry(settings, service_name=lab)
    # FastAPI >= 0.16x has its own OpenTelemetry hooks that switch on as soon as a global provider
    # exists. We instrument with the OpenTelemetry contrib instrumentor instead (one server span per
    # request, the same attributes as any other ASGI app), so the native hooks stay off: otherwise
    # an app built with instrument=False (the mock provider, built for throughput) still traces.
    # FastAPIOffline serves Swagger UI's and ReDoc's JS/CSS from the installed package, not a CDN, so
    # /docs renders with no network at all.
    app = FastAPIOffline(title=title, description=description, version=version,
                         telemetry={"tracing": False, "metrics": False, "logs": False},
                         dependencies=[Depends(known_query_only)] if strict_query else None)
    app.state.settings = settings
    app.state.lab = lab
    app.state.readiness = dict(readiness or {})
    app.state.warmup = Warmup(warmup or {})
    for name in app.state.warmup.steps:
        app.state.readiness[name] = app.state.warmup.check(name)
    app.router.on_startup.append(app.state.warmup.start)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError):
        return _json_error(request, exc.status, exc.message, exc.type, headers=exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = f"no route for {request.method} {request.url.path}"
        return _json_error(request, exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        if any(e["type"] == "json_invalid" for e in errors):
            return _json_error(request, 400, "request body is not valid JSON", "invalid_json", details=errors)
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
        return _json_error(request, 422, f"{where}: {first['msg']}", "validation_error", details=errors)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "service": lab, "version": version}

    @app.get("/readyz", tags=["ops"])
    def readyz(request: Request):
        """Readiness: every dependency check of this lab passes (503 otherwise)."""
        checks = {name: _run_check(fn) for name, fn in app.state.readiness.items()}
        body = {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()}
        if all(ok for ok, _ in checks.values()):
            return {"status": "ready", "service": lab, "checks": body}
        return _json_error(request, 503, "not ready: " + ", ".join(n for n, (ok, _) in checks.items() if not ok),
                           "not_ready", checks=body)

    @app.get("/metrics", tags=["ops"], include_in_schema=True)
    def metrics_endpoint() -> Response:
        """Prometheus text exposition of HTTP and GenAI metrics."""
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestContextMiddleware, service=lab)
    if instrument:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    return app
