"""Requests reset on reused keep-alive connections, by the server's keep-alive timeout, under CPU contention.

    python -m benchmarks.keep_alive [--model DIR] [--rounds 6] [--burners 2] [--keep-alive 5 75]

For each timeout it starts ``heartfelt serve`` with ``HEARTFELT_KEEP_ALIVE_S`` set to it, keeps
``--burners`` busy-looping processes running (the contention of a shared CI machine, where the client
falls behind and some pooled connections sit idle for seconds), and sends the load test's request mix
``--rounds`` times. It prints the transport errors per timeout. With uvicorn's default of 5 s, equal to
httpx's client-side expiry, a client can reuse a connection just as the server closes it, and the request
is reset unanswered. Only 127.0.0.1 is addressed; every round is 2,000 requests.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from pathlib import Path

from benchmarks.load_mix import CONCURRENCY, REQUESTS, LoadResult, run_load
from benchmarks.local_server import LocalServer
from service.settings import get_settings


def _burn() -> None:
    while True:
        pass


def measure(model: Path, keep_alive_s: int, rounds: int, burners: int) -> dict:
    settings = {"keep_alive_s": str(keep_alive_s), "rate_limit": "", "api_keys": "", "workers": "1"}
    with LocalServer(model, None, 180, extra_env={"TOKENIZERS_PARALLELISM": "false"}, **settings) as server:
        burning = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(burners)]
        for process in burning:
            process.start()
        try:
            results = []
            for _ in range(rounds):
                result = LoadResult()
                asyncio.run(run_load(server.url, result))
                results.append(result)
        finally:
            for process in burning:
                process.terminate()
                process.join()
    errors = [error for result in results for error in result.transport_errors]
    return {
        "keep_alive_s": keep_alive_s,
        "requests": sum(result.done for result in results),
        "rounds_with_errors": sum(bool(result.transport_errors) for result in results),
        "transport_errors": len(errors),
        "examples": errors[:5],
        "mean_round_s": sum(result.wall_s for result in results) / len(results),
    }


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=settings.model_path)
    parser.add_argument("--rounds", type=int, default=6, help=f"load runs of {REQUESTS} requests per timeout")
    parser.add_argument("--burners", type=int, default=2, help="busy-looping processes during the runs")
    parser.add_argument("--keep-alive", type=int, nargs="+", default=[5, settings.keep_alive_s])
    args = parser.parse_args(argv)

    started = time.perf_counter()
    print(f"{args.rounds} rounds of {REQUESTS} requests at concurrency {CONCURRENCY}, {args.burners} burners")
    print("| server keep-alive | requests | rounds with resets | transport errors | mean round |")
    print("|---|---|---|---|---|")
    examples = []
    for keep_alive_s in args.keep_alive:
        row = measure(args.model, keep_alive_s, args.rounds, args.burners)
        print(f"| {keep_alive_s} s | {row['requests']} | {row['rounds_with_errors']} of {args.rounds} "
              f"| {row['transport_errors']} | {row['mean_round_s']:.1f} s |", flush=True)  # fmt: skip
        examples += [f"  {keep_alive_s} s: {example}" for example in row["examples"]]
    if examples:
        print("\nfirst errors (kind: exception <- its causes, at seconds into the round):", *examples, sep="\n")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
