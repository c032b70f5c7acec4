"""A bounded load test against a real uvicorn process on 127.0.0.1 (marked slow; `make test` runs it).

The server is started the way `heartfelt serve` starts it, on the tiny test model, so the test never needs
the full model. It sends a fixed mix of requests (``benchmarks/load_mix.py``) at a fixed concurrency and
asserts correctness only: no 5xx, no dropped connections, every invalid body answered 4xx, `/livez`
answering throughout, and the message text nowhere in the server's logs. Latencies are printed (and
written to JSON), never asserted.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from pathlib import Path

import httpx
import pytest

from benchmarks.load_mix import CONCURRENCY, LIVEZ_TIMEOUT_S, MARKER, REQUESTS, LoadResult, percentile, run_load
from benchmarks.local_server import HOST, LocalServer, ServerFailed

pytestmark = pytest.mark.slow

READY_TIMEOUT_S = 120  # the model loads and warms up on a CPU that other jobs may share
LOAD_BUDGET_S = 300  # the whole run, hard: past it the test fails instead of hanging (224 s seen at load 11 on 2 cores)


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


def test_an_idle_connection_outlives_the_clients_own_keep_alive(server: LocalServer):
    """uvicorn's default keep-alive (5 s) equals httpx's client-side expiry, so a client could reuse a
    connection at the moment the server closed it, and the request was reset unanswered (CI saw three in
    one load run). The server must keep an idle connection open past the client's expiry."""
    idle_s = httpx.Limits().keepalive_expiry + 1
    connection = http.client.HTTPConnection(HOST, server.port, timeout=LIVEZ_TIMEOUT_S)
    try:
        connection.request("GET", "/livez")
        first = connection.getresponse()
        first.read()
        socket_used = connection.sock
        time.sleep(idle_s)
        connection.request("GET", "/livez")  # raises RemoteDisconnected if the server closed it meanwhile
        second = connection.getresponse()
        second.read()
        assert socket_used is not None and connection.sock is socket_used  # one connection served both
    finally:
        connection.close()
    assert (first.status, second.status) == (200, 200)
