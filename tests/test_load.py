"""A bounded load test against a real uvicorn process on 127.0.0.1 (marked slow; `make test` runs it).

The server is started the way `heartfelt serve` starts it, on the tiny test model, so the test never needs
the full model. It sends a fixed mix of requests at a fixed concurrency and asserts correctness only:
no 5xx, no dropped connections, every invalid body answered 4xx, `/livez` answering throughout, and the
message text nowhere in the server's logs. Latencies are printed (and written to JSON), never asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from benchmarks.local_server import HOST, LocalServer, ServerFailed

pytestmark = pytest.mark.slow

REQUESTS = 2000
CONCURRENCY = 32
READY_TIMEOUT_S = 120  # the model loads and warms up on a CPU that other jobs may share
LOAD_BUDGET_S = 300  # the whole run, hard: past it the test fails instead of hanging (224 s seen at load 11 on 2 cores)
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


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    log_path = tmp_path_factory.mktemp("load") / "server.log"
    settings = {"workers": "1", "log_json": "true", "rate_limit": "", "api_keys": ""}
    try:
        running = LocalServer(
            tiny_model_dir, log_path, READY_TIMEOUT_S, extra_env={"TOKENIZERS_PARALLELISM": "false"}, **settings
        )
    except ServerFailed as exc:
        pytest.fail(str(exc))
    with running:
        yield running


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

    async def worker(client: httpx.AsyncClient) -> None:
        for i in plan:  # one shared iterator: each request is sent exactly once
            kind, path, body, headers = planned_request(i)
            started = time.perf_counter()
            try:
                response = await client.post(path, content=body, headers=headers)
            except httpx.TransportError as exc:
                result.transport_errors.append(f"{kind}: {type(exc).__name__}")
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
                    result.livez_failures.append(type(exc).__name__)
                with contextlib.suppress(TimeoutError):  # wait for the next probe, or the end of the run
                    await asyncio.wait_for(finished.wait(), LIVEZ_EVERY_S)

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    started = time.perf_counter()
    async with httpx.AsyncClient(
        base_url=base_url, timeout=REQUEST_TIMEOUT_S, limits=limits, trust_env=False
    ) as client:
        probe = asyncio.create_task(liveness())
        try:
            await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
        finally:
            finished.set()
            await probe
    result.wall_s = time.perf_counter() - started


def report(result: LoadResult) -> tuple[str, dict]:
    figures: dict = {"requests": result.done, "concurrency": CONCURRENCY, "wall_s": round(result.wall_s, 1)}
    lines = [
        f"load test: {result.done} requests at concurrency {CONCURRENCY} in {result.wall_s:.1f} s "
        f"({result.done / max(result.wall_s, 1e-9):.0f} req/s) against uvicorn on {HOST}, tiny test model"
    ]
    for kind in ("analyze", "batch", "rewrite", "invalid"):
        values = result.latencies.get(kind, [])
        if not values:
            continue
        p50, p95, p99 = (percentile(values, q) * 1000 for q in (50, 95, 99))
        figures[kind] = {"n": len(values), "p50_ms": round(p50, 1), "p95_ms": round(p95, 1), "p99_ms": round(p99, 1)}
        lines.append(f"  {kind:8} n={len(values):5}  p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  p99 {p99:8.1f} ms")
    if result.livez_latencies:
        live = result.livez_latencies
        figures["livez"] = {"probes": len(live), "p99_ms": round(percentile(live, 99) * 1000, 1),
                            "max_ms": round(max(live) * 1000, 1)}  # fmt: skip
        lines.append(f"  /livez   {len(live)} probes during the run, p99 {figures['livez']['p99_ms']} ms, "
                     f"max {figures['livez']['max_ms']} ms")  # fmt: skip
    return "\n".join(lines), figures


def test_load_has_no_server_errors_and_stays_live(server: LocalServer, capsys, tmp_path: Path):
    result = LoadResult()
    try:
        asyncio.run(asyncio.wait_for(run_load(server.url, result), LOAD_BUDGET_S))
    except TimeoutError:
        pytest.fail(f"the load run passed its {LOAD_BUDGET_S} s budget after {result.done} of {REQUESTS} requests")

    text, figures = report(result)
    (tmp_path / "load.json").write_text(json.dumps(figures, indent=2))
    with capsys.disabled():  # shown in the terminal even when pytest captures output
        print(f"\n{text}\n  figures: {tmp_path / 'load.json'}")

    assert server.process.poll() is None, "the server died during the run"
    assert not result.transport_errors, result.transport_errors[:10]
    assert result.done == REQUESTS
    server_errors = {kind: [s for s in codes if s >= 500] for kind, codes in result.statuses.items()}
    assert not any(server_errors.values()), server_errors
    for kind in ("analyze", "batch", "rewrite"):
        assert set(result.statuses[kind]) == {200}, (kind, sorted(set(result.statuses[kind])))
    assert set(result.statuses["invalid"]) <= {415, 422}, sorted(set(result.statuses["invalid"]))
    assert result.livez_latencies and not result.livez_failures, result.livez_failures[:10]

    log = server.log()
    assert '"event": "request"' in log  # the access log ran
    assert MARKER not in log
    assert "Traceback" not in log
