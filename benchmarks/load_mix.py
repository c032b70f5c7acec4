"""The load test's request mix and its async driver, shared by ``tests/test_load.py`` and
``benchmarks/keep_alive.py``.

A fixed plan of requests (mostly analyses, some batches and rewrites, 12% bodies the API must refuse)
sent over one pooled httpx client at a fixed concurrency, with ``/livez`` probed on a connection of its
own throughout. Only 127.0.0.1 is ever addressed. Every text carries ``MARKER``, so a caller can check
that no message text reached the server's logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field

import httpx

from benchmarks.local_server import HOST

REQUESTS = 2000
CONCURRENCY = 32
REQUEST_TIMEOUT_S = 60
LIVEZ_EVERY_S = 0.25
LIVEZ_TIMEOUT_S = 15  # a probe that gets no answer in this long counts as /livez not answering

MARKER = "loadtest-private-marker-5521"  # in every text; must never reach the server's logs

TEXTS = [
    f"I'm sorry if you were hurt, but you're overreacting. Can we move on? {MARKER}",
    f"I lied to you about Friday. That was wrong, and I'll tell you the whole truth tonight. {MARKER}",
    f"Sorry for everything, I guess. Mistakes were made. {MARKER}",
    f"Thanks for the notes, see you at the standup tomorrow! {MARKER}",
    f"I'm sorry I forgot your birthday 🎂. I know it hurt, and I've put a reminder in for next year. {MARKER}",
    f"آسف جدا — I should have called. {MARKER} e\u0301 \u202eRTL\u202c 🙏🏽",
    f"You made me do it, honestly. But fine, sorry. {MARKER}",
    f"I'm so sorry. I missed the recital because I stayed late at work, and I chose that. {MARKER}",
]
JSON_TYPE = {"content-type": "application/json"}


def invalid_request(n: int) -> tuple[bytes, dict[str, str]]:
    """Bodies the API must refuse with a 4xx (415 or 422), never a 5xx."""
    variants: list[tuple[bytes, dict[str, str]]] = [
        (b'{"text": "   "}', JSON_TYPE),  # whitespace only
        (b'{"text": ', JSON_TYPE),  # malformed JSON
        (b'{"text": 42}', JSON_TYPE),  # wrong type
        (json.dumps({"text": MARKER, "extra": MARKER}).encode(), JSON_TYPE),  # extra field
        (b'{"text": "lone \\ud800 surrogate"}', JSON_TYPE),  # invalid escape
        (json.dumps({"text": "x" * 5001}).encode(), JSON_TYPE),  # over the default length limit
        (MARKER.encode(), {"content-type": "text/plain"}),  # not JSON
    ]
    return variants[n % len(variants)]


def planned_request(i: int) -> tuple[str, str, bytes, dict[str, str]]:
    """(kind, path, body, headers) for request ``i``: mostly analyze, some batch, a few (slower) rewrites."""
    slot = i % 25
    text = TEXTS[i % len(TEXTS)]
    if slot < 17:  # 68%
        return "analyze", "/v1/analyze", json.dumps({"text": text}).encode(), JSON_TYPE
    if slot < 20:  # 12%
        items = [{"id": j, "text": TEXTS[(i + j) % len(TEXTS)]} for j in range(4)]
        return "batch", "/v1/analyze/batch", json.dumps({"items": items}).encode(), JSON_TYPE
    if slot < 22:  # 8%
        return "rewrite", "/v1/rewrite", json.dumps({"text": text}).encode(), JSON_TYPE
    body, headers = invalid_request(i // 25)  # 12%
    return "invalid", "/v1/analyze", body, headers


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def describe(exc: BaseException) -> str:
    """The exception's type and the types of its causes, e.g. ``ReadError <- ConnectionResetError``:
    enough to tell a reset from a timeout, and never a message, which could quote a request."""
    names = [type(exc).__name__]
    cause = exc.__cause__ or exc.__context__
    while cause is not None and len(names) < 6:
        if type(cause).__name__ != names[-1]:
            names.append(type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
    return " <- ".join(names)


@dataclass
class LoadResult:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    transport_errors: list[str] = field(default_factory=list)
    livez_latencies: list[float] = field(default_factory=list)
    livez_failures: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def done(self) -> int:
        return sum(len(s) for s in self.statuses.values()) + len(self.transport_errors)


async def run_load(base_url: str, result: LoadResult) -> None:
    assert httpx.URL(base_url).host == HOST
    plan = iter(range(REQUESTS))
    finished = asyncio.Event()
    run_started = time.perf_counter()

    async def worker(client: httpx.AsyncClient) -> None:
        for i in plan:  # one shared iterator: each request is sent exactly once
            kind, path, body, headers = planned_request(i)
            started = time.perf_counter()
            try:
                response = await client.post(path, content=body, headers=headers)
            except httpx.TransportError as exc:
                result.transport_errors.append(f"{kind}: {describe(exc)} at {started - run_started:.1f} s")
                continue
            result.latencies[kind].append(time.perf_counter() - started)
            result.statuses[kind].append(response.status_code)

    async def liveness() -> None:
        # its own client and connection, so the probes never queue behind the load's connections
        async with httpx.AsyncClient(base_url=base_url, timeout=LIVEZ_TIMEOUT_S, trust_env=False) as client:
            while not finished.is_set():
                started = time.perf_counter()
                try:
                    response = await client.get("/livez")
                    if response.status_code == 200:
                        result.livez_latencies.append(time.perf_counter() - started)
                    else:
                        result.livez_failures.append(f"status {response.status_code}")
                except httpx.TransportError as exc:
                    result.livez_failures.append(describe(exc))
                with contextlib.suppress(TimeoutError):  # wait for the next probe, or the end of the run
                    await asyncio.wait_for(finished.wait(), LIVEZ_EVERY_S)

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=REQUEST_TIMEOUT_S, limits=limits, trust_env=False
    ) as client:
        probe = asyncio.create_task(liveness())
        try:
            await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
        finally:
            finished.set()
            await probe
    result.wall_s = time.perf_counter() - run_started
