"""A bounded load test against a real uvicorn process on 127.0.0.1 (marked slow; `make test` runs it)."""

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.slow

REQUESTS = 2000
CONCURRENCY = 32
DEADLINE_S = 240
HEARTFELT = str(Path(sys.executable).with_name("heartfelt"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(full_model_dir):
    port = free_port()
    env = {**os.environ, "HEARTFELT_MODEL_PATH": str(full_model_dir), "HEARTFELT_PORT": str(port),
           "HEARTFELT_HOST": "127.0.0.1", "HEARTFELT_LOG_JSON": "true"}  # fmt: skip
    proc = subprocess.Popen([HEARTFELT, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.1)
        else:
            pytest.fail("the server did not become ready in 120 s")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def request_mix(i: int) -> tuple[str, dict | bytes]:
    kind = i % 6
    if kind == 5:
        return "/v1/rewrite", {"text": "Sorry for everything, but you started it."}
    if kind == 0:
        return "/v1/analyze", {"text": "I'm sorry if you were hurt, but you're overreacting. Can we move on?"}
    if kind == 1:
        return "/v1/analyze", {"text": "Thanks for the notes, see you at the standup tomorrow."}
    if kind == 2:
        items = [{"id": j, "text": "I lied about Friday. I'll tell you everything."} for j in range(4)]
        return "/v1/analyze/batch", {"items": items}
    if kind == 3:
        return "/v1/analyze", {"text": "   "}  # invalid: 422
    return "/v1/analyze", b'{"text": '  # malformed JSON: 422


async def run_load(base: str) -> tuple[list[float], list[int], int, list[float]]:
    latencies: list[float] = []
    statuses: list[int] = []
    transport_errors = 0
    live_latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(REQUESTS):
        queue.put_nowait(i)
    stop = asyncio.Event()

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal transport_errors
        while not queue.empty():
            path, body = request_mix(queue.get_nowait())
            started = time.perf_counter()
            try:
                if isinstance(body, bytes):
                    r = await client.post(path, content=body, headers={"content-type": "application/json"})
                else:
                    r = await client.post(path, json=body)
                statuses.append(r.status_code)
                latencies.append(time.perf_counter() - started)
            except httpx.TransportError:
                transport_errors += 1

    async def liveness(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            r = await client.get("/livez")
            assert r.status_code == 200
            live_latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.2)

    limits = httpx.Limits(max_connections=CONCURRENCY + 2)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        probe = asyncio.create_task(liveness(client))
        await asyncio.wait_for(asyncio.gather(*(worker(client) for _ in range(CONCURRENCY))), DEADLINE_S)
        stop.set()
        await probe
    return latencies, statuses, transport_errors, live_latencies


def test_load_has_no_server_errors_and_stays_live(server):
    latencies, statuses, transport_errors, live = asyncio.run(run_load(server))
    p50, p95, p99 = (np.percentile(latencies, q) * 1000 for q in (50, 95, 99))
    print(f"\nload: {len(statuses)} requests at concurrency {CONCURRENCY}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
          f"p99 {p99:.1f} ms; /livez max {max(live) * 1000:.1f} ms over {len(live)} probes")  # fmt: skip
    assert transport_errors == 0
    assert len(statuses) == REQUESTS
    assert not [s for s in statuses if s >= 500]
    assert set(statuses) <= {200, 422}
    assert len(live) > 0
