"""``heartfelt serve`` in a subprocess on 127.0.0.1, for the benchmark and the load test.

Starts the server the way a user does (``python -m service.cli serve``) with settings passed as
``HEARTFELT_*`` environment variables (any inherited ones are dropped, so the caller's shell cannot
change what is measured), waits for ``/readyz``, and records the time to ready. Output goes to a
file, never a pipe: a full pipe would stall the server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

HOST = "127.0.0.1"  # the only address these servers bind or that anything here talks to
ROOT = Path(__file__).resolve().parents[1]


class ServerFailed(RuntimeError):
    """The server exited or was not ready in time; the message carries the tail of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class LocalServer:
    """A context manager: ``with LocalServer(model_dir, log_path, micro_batching="false") as server: ...``."""

    def __init__(
        self,
        model_dir: Path,
        log_path: Path | None = None,
        ready_timeout_s: float = 120,
        extra_env: dict[str, str] | None = None,
        **settings: str,
    ) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTFELT_")}
        env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"} | (extra_env or {})
        env |= {"HEARTFELT_MODEL_PATH": str(model_dir), "HEARTFELT_HOST": HOST, "HEARTFELT_PORT": str(self.port)}
        env |= {f"HEARTFELT_{k.upper()}": v for k, v in settings.items()}
        command = [sys.executable, "-m", "service.cli", "serve", "--host", HOST, "--port", str(self.port)]
        started = time.perf_counter()
        with open(log_path or os.devnull, "wb") as log_file:
            self.process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            self._wait_ready(started + ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        self.ready_s = time.perf_counter() - started

    def _wait_ready(self, deadline: float) -> None:
        with httpx.Client(base_url=self.url, timeout=2, trust_env=False) as client:
            while True:
                if self.process.poll() is not None:
                    raise ServerFailed(f"the server exited with {self.process.returncode}:\n{self.log()[-3000:]}")
                try:
                    if client.get("/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.perf_counter() > deadline:
                    raise ServerFailed(f"the server was not ready in time:\n{self.log()[-3000:]}")
                time.sleep(0.02)

    def log(self) -> str:
        if self.log_path is None or not self.log_path.is_file():
            return "(no log kept)"
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def rss_mb(self) -> float:
        import psutil

        return psutil.Process(self.process.pid).memory_info().rss / 2**20

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
