"""The linear pool planner against httpcore's own, on random pools, and in the gateway's client."""

from __future__ import annotations

import random

import httpcore
import httpx
import pytest

from labs.lab09_gateway.pool import LinearPool, use_linear_pools


class FakeConnection:
    """A pooled connection in a fixed state (what the planner asks of it, and nothing else)."""

    def __init__(self, cid: int, rng: random.Random | None = None):
        self.cid = cid
        r = rng or random.Random(cid)
        self.closed = r.random() < 0.1
        self.expired = r.random() < 0.1
        self.idle = r.random() < 0.5
        self.available = self.idle or r.random() < 0.1
        self.origin_ok = r.random() < 0.8

    def is_closed(self) -> bool:
        return self.closed

    def has_expired(self) -> bool:
        return self.expired

    def is_idle(self) -> bool:
        return self.idle

    def is_available(self) -> bool:
        return self.available

    def can_handle_request(self, origin) -> bool:
        return self.origin_ok


class FakeRequest:
    class _Req:
        class url:  # noqa: N801 - the shape httpcore reads: request.url.origin
            origin = "http://upstream.test"

    request = _Req()

    def __init__(self, queued: bool):
        self.connection = None if queued else FakeConnection(-1)

    def is_queued(self) -> bool:
        return self.connection is None

    def assign_to_connection(self, connection) -> None:
        self.connection = connection


def _run(pool_class, seed: int, sweep: bool = True):
    """One plan over a random pool: (closing, kept, each request's connection), as connection objects."""
    rng = random.Random(seed)
    max_connections = rng.randint(1, 40)

    class Pool(pool_class):
        created = 1000
        sweep_interval_s = 0.0 if sweep else float("inf")
        _next_sweep = 0.0 if sweep else float("inf")

        def create_connection(self, origin):
            Pool.created += 1
            return FakeConnection(Pool.created)

    pool = Pool(max_connections=max_connections, max_keepalive_connections=rng.randint(0, max_connections))
    pool._connections = [FakeConnection(i, rng) for i in range(rng.randint(0, 45))]
    pool._requests = [FakeRequest(queued=rng.random() < 0.7) for _ in range(rng.randint(0, 6))]
    closing = pool._assign_requests_to_connections()
    return closing, pool._connections, [r.connection for r in pool._requests]


def _ids(run) -> tuple[list[int], list[int], list[int | None]]:
    closing, kept, assigned = run
    return [c.cid for c in closing], [c.cid for c in kept], [c.cid if c else None for c in assigned]


@pytest.mark.parametrize("seed", range(300))
def test_linear_pool_plans_as_httpcore_does(seed):
    assert _ids(_run(LinearPool, seed)) == _ids(_run(httpcore.AsyncConnectionPool, seed))


def test_between_sweeps_no_request_gets_a_dead_connection_or_waits_on_a_full_pool_of_them():
    """Without the sweep only the connection being handed out is tested: a closed or expired one is
    dropped instead (a planner that skipped that test fails on a few dozen of these pools), and a
    request that finds the pool full waits only if httpcore's planner would make it wait too."""
    for seed in range(1000):
        closing, kept, assigned = _run(LinearPool, seed, sweep=False)
        pooled = [c for c in assigned if c is not None and 0 <= c.cid < 1000]  # not new, not held before
        assert not any(c.expired or c.closed for c in pooled), seed
        assert not {id(c) for c in closing} & {id(c) for c in kept} and all(c in kept for c in pooled)
        # an idle connection over the keep-alive limit may serve a request before the sweep closes it
        for mine, ref in zip(assigned, _run(httpcore.AsyncConnectionPool, seed)[2], strict=True):
            assert ref is None or mine is not None, seed


def test_a_full_pool_of_dead_connections_is_swept_before_a_request_waits():
    class Pool(LinearPool):
        _next_sweep = float("inf")  # no sweep is due

        def create_connection(self, origin):
            return FakeConnection(1000)

    pool = Pool(max_connections=3, max_keepalive_connections=3)
    dead = [FakeConnection(i) for i in range(3)]
    for conn, (closed, expired) in zip(dead, [(True, False), (False, True), (False, True)], strict=True):
        conn.closed, conn.expired, conn.idle, conn.available, conn.origin_ok = closed, expired, False, False, True
    pool._connections, pool._requests = list(dead), [FakeRequest(queued=True)]
    closing = pool._assign_requests_to_connections()
    assert [c.cid for c in closing] == [1, 2] and pool._requests[0].connection.cid == 1000


def test_the_gateway_client_gets_the_linear_pool():
    client = use_linear_pools(httpx.AsyncClient(limits=httpx.Limits(max_connections=7, max_keepalive_connections=3)))
    pool = client._transport._pool
    assert type(pool) is LinearPool and pool._max_connections == 7 and pool._max_keepalive_connections == 3
