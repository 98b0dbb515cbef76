"""The pass-through client's connection pool: httpcore's, with its bookkeeping made linear in the pool size.

    .venv/bin/python bench/bench_lab09_overhead.py      # server CPU per request, gateway beside a bare proxy

httpcore (1.0.x) re-plans its pool on every request start and every response close. Its plan first
drops closed, expired and surplus idle connections; the surplus test counts the pool once for every
idle connection, so one plan costs O(n^2) for n pooled connections. With 32 callers and 32 pooled
keep-alive connections that was a third of the gateway's CPU per request under load (cProfile), more
than its spans, metering and routing together. `LinearPool` makes the same decisions in O(n):

- drop a closed connection; close an expired one (keep-alive timeout, or the server hung up: the
  socket reads as readable while idle); close an idle one while the pool holds more than
  max_keepalive connections (httpcore compares the pool's current size, counted as it shrinks);
- then, for each queued request in order: the first connection that can serve its origin and is
  available; else a new connection while the pool is under max_connections; else close the first
  idle connection and open a new one in its place; else it waits.

The rest of the plan's cost was that first pass itself, run over every connection on every plan, and
its expiry test, which for an idle connection asks the socket whether the server has hung up (a poll
per connection per plan). `LinearPool` runs that pass (the sweep) at most every `sweep_interval_s`
(50 ms), and also whenever a request finds the pool full; in between it tests only the connection it
is about to hand out, so a request never gets a closed or expired connection. What the sweep waits
for: a dead idle connection nobody picks, or an idle one over the keep-alive limit, is closed up to
50 ms later than httpcore would close it.

tests/lab09/test_pool.py checks it against httpcore's own planner on random pools (sweeping every
plan: same connections kept, closed and handed to each request), and that without a sweep no request
is handed a closed or expired connection and a full pool is swept before a request waits.
"""

from __future__ import annotations

import time

import httpcore
import httpx


class LinearPool(httpcore.AsyncConnectionPool):
    sweep_interval_s = 0.05
    _next_sweep = 0.0  # a pool made a LinearPool in place (use_linear_pools) starts with a sweep

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing: list[httpcore.AsyncConnectionInterface] = []
        swept = time.monotonic() >= self._next_sweep
        if swept:
            self._sweep(closing)
        for pool_request in self._requests:
            if not pool_request.is_queued():
                continue
            origin = pool_request.request.url.origin
            conn = self._first_available(origin, closing)
            if conn is None:
                if len(self._connections) >= self._max_connections and not swept:
                    swept = True  # a full pool may hold dead connections: sweep before making anyone wait
                    self._sweep(closing)
                    conn = self._first_available(origin, closing)
            if conn is None:
                if len(self._connections) >= self._max_connections:
                    idle = next((c for c in self._connections if c.is_idle()), None)
                    if idle is None:
                        continue  # the request waits for a connection to come free
                    self._connections.remove(idle)
                    closing.append(idle)
                conn = self.create_connection(origin)
                self._connections.append(conn)
            pool_request.assign_to_connection(conn)
        return closing

    def _sweep(self, closing: list) -> None:
        """httpcore's first pass in one scan: drop closed connections, close expired ones and idle ones
        while the pool (its size counted as the scan shrinks it) is over the keep-alive limit."""
        self._next_sweep = time.monotonic() + self.sweep_interval_s
        kept = []
        remaining = len(self._connections)
        for conn in self._connections:
            if conn.is_closed():
                remaining -= 1
            elif conn.has_expired() or (conn.is_idle() and remaining > self._max_keepalive_connections):
                remaining -= 1
                closing.append(conn)
            else:
                kept.append(conn)
        self._connections = kept

    def _first_available(self, origin, closing: list) -> httpcore.AsyncConnectionInterface | None:
        """The first connection that can take a request for `origin`; a closed one met on the way is
        dropped and an expired one closed (between sweeps these are the only ones tested)."""
        for conn in self._connections:
            if conn.can_handle_request(origin) and conn.is_available():
                closed = conn.is_closed()
                if not closed and not conn.has_expired():
                    return conn
                self._connections = [c for c in self._connections if c is not conn]
                if not closed:
                    closing.append(conn)
                return self._first_available(origin, closing)
        return None


def use_linear_pools(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Give the client's plain connection pools the linear planner. LinearPool adds no state, so the pool
    httpx built (with its limits, TLS context and env-proxy mounts) changes class in place; a proxy's
    pool, which plans differently, keeps its own."""
    for transport in (client._transport, *client._mounts.values()):
        pool = getattr(transport, "_pool", None)
        if type(pool) is httpcore.AsyncConnectionPool:
            pool.__class__ = LinearPool
    return client
