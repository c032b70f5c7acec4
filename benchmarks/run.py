"""Heartfelt's performance benchmark: model-only latency, end-to-end HTTP latency, throughput, start-up.

    make bench            (python -m benchmarks.run [--model DIR] [--quick])

Prints a markdown table and writes ``benchmarks/results.json`` and ``benchmarks/results.md``. Every
figure is also given as a ratio to the bare fp32 forward pass of the base encoder (all-MiniLM-L6-v2,
batch 1) measured in the same run, because absolute times drift on a shared machine. Servers bind
127.0.0.1 only; request counts and durations are bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from benchmarks.local_server import ROOT, LocalServer
from service.settings import get_settings

OUT_DIR = Path(__file__).resolve().parent
TOKENS = (16, 32, 64, 128)
SHORT_CLEAN = "Running 5 minutes late, see you soon!"
FLAGGED_3 = "I'm sorry if you were hurt. But you're overreacting about Friday. Can we just move on?"
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"
UNITS_FOR_THROUGHPUT = 256
FILLER = "we talked about the plan for the weekend and what to bring along "
# Typed word by word in the typing scenario: the extension re-sends the whole draft at each pause.
TYPED_DRAFT = (
    "I'm sorry if you were hurt by what I said at dinner. I was exhausted after the week I had. "
    "I know that's not an excuse. Can we just move on?"
)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def text_of_tokens(tokenizer, n: int) -> str:
    """A text that tokenizes to exactly ``n`` tokens with [CLS] and [SEP]."""
    ids = tokenizer(FILLER * 20, add_special_tokens=False)["input_ids"][: n - 2]
    return tokenizer.decode(ids)


def time_calls(fn, repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


# ---- model only -------------------------------------------------------------------------------


def model_latency(model_dir: Path, repeats: int) -> dict:
    """Batch-1 latency (ms) of each variant at each length, for 1 and 2 threads."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from service.classifier import TorchClassifier
    from service.onnx_backend import OnnxClassifier
    from training.embeddings import base_model_path

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = {n: text_of_tokens(tokenizer, n) for n in TOKENS}
    base = AutoModel.from_pretrained(base_model_path()).eval()
    torch_clf = TorchClassifier(model_dir)
    torch_int8 = TorchClassifier(model_dir)
    torch_int8.model = torch.ao.quantization.quantize_dynamic(torch_int8.model, {torch.nn.Linear}, dtype=torch.qint8)
    results: dict = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        onnx_clf = OnnxClassifier(model_dir, num_threads=threads)
        for n, text in texts.items():
            enc = tokenizer(text, return_tensors="pt")
            with torch.inference_mode():
                runs = {
                    "base encoder fp32 (bare forward)": lambda enc=enc: base(**enc),
                    "torch fp32": lambda text=text: torch_clf.predict([text], [""]),
                    "torch int8 (dynamic)": lambda text=text: torch_int8.predict([text], [""]),
                    "ONNX Runtime int8 (fused)": lambda text=text, onnx_clf=onnx_clf: onnx_clf.predict([text], [""]),
                }
                for name, fn in runs.items():
                    times = time_calls(fn, repeats)
                    results.setdefault(name, {}).setdefault(f"{threads}t", {})[str(n)] = {
                        "p50_ms": pct(times, 50),
                        "p95_ms": pct(times, 95),
                    }
    return results


def reference_samples(repeats: int) -> dict:
    """The reference: the base encoder's bare fp32 pass on the three-sentence message (batch 1), and
    its batch-32 pass, with the server's thread count (2). Raw times, so that :func:`pooled_reference`
    can combine a measurement at the start of the run with one at the end (this machine drifts)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from training.embeddings import base_model_path

    tokenizer = AutoTokenizer.from_pretrained(base_model_path())
    base = AutoModel.from_pretrained(base_model_path()).eval()
    torch.set_num_threads(2)
    with torch.inference_mode():
        enc = tokenizer(FLAGGED_3, return_tensors="pt")
        single = time_calls(lambda: base(**enc), repeats)
        batch = tokenizer([FLAGGED_3] * 32, return_tensors="pt", padding=True)
        batched = time_calls(lambda: base(**batch), max(repeats // 10, 5))
    return {"tokens": int(enc["input_ids"].shape[1]), "single_ms": single, "batch32_ms": batched}


def pooled_reference(*runs: dict) -> dict:
    """The median over every sample of the reference runs, and each run's own median (the drift)."""
    single = [t for run in runs for t in run["single_ms"]]
    batched = [t for run in runs for t in run["batch32_ms"]]
    return {
        "bare_fp32_ms_flagged_message": pct(single, 50),
        "bare_fp32_tokens_flagged_message": runs[0]["tokens"],
        "bare_fp32_batch32_msgs_per_s": 32_000 / pct(batched, 50),
        "bare_fp32_ms_per_measurement": [pct(run["single_ms"], 50) for run in runs],
    }


def unit_throughput(model_dir: Path, units: int = 256) -> dict:
    """Units/s over test-split (unit, context) pairs: the ONNX backend's way (each pair alone, on two
    concurrent single-threaded runs) against padded batches of 32 on one two-threaded run, which is
    faster per pass but makes a unit's int8 scores depend on its batch company."""
    import onnxruntime as ort

    from service.onnx_backend import OnnxClassifier, onnx_path
    from training.dataset import load_corpus, split_rows

    alone = OnnxClassifier(model_dir, num_threads=2)
    rows = split_rows(load_corpus(), "test", alone.context_words)[:units]
    texts, contexts = [r.text for r in rows], [r.context for r in rows]
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    batched = ort.InferenceSession(str(onnx_path(model_dir)), options, providers=["CPUExecutionProvider"])

    def padded_batches() -> None:
        for start in range(0, len(texts), 32):
            enc = alone.encode(texts[start : start + 32], contexts[start : start + 32])
            width = max(len(e.ids) for e in enc)
            feed = {
                name: np.array([getattr(e, attr) + [0] * (width - len(e.ids)) for e in enc], dtype=np.int64)
                for name, attr in (
                    ("input_ids", "ids"),
                    ("attention_mask", "attention_mask"),
                    ("token_type_ids", "type_ids"),
                )
            }
            batched.run(None, feed)

    runs = {
        "pairs alone, 2 concurrent runs (served)": lambda: alone.predict(texts, contexts),
        "padded batches of 32, 2 threads": padded_batches,
    }
    return {name: len(texts) * 1000 / pct(time_calls(fn, 5, warmup=1), 50) for name, fn in runs.items()}


def _time_method(owner, name: str) -> list[float]:
    """Wrap ``owner.name`` so each call adds its seconds to the returned one-item list (none: stays 0)."""
    seconds = [0.0]
    if owner is None:
        return seconds
    inner = getattr(owner, name)

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            seconds[0] += time.perf_counter() - started

    setattr(owner, name, timed)
    return seconds


def analysis_breakdown(model_dir: Path, repeats: int) -> dict:
    """In-process analysis of the flagged message (ONNX backend, with verified suggestions): its
    p50, the share of that time spent in model calls, and how many (unit, context) pairs it runs."""
    from service.loader import load_rewriter
    from service.settings import Settings

    analyzer = load_rewriter(Settings(model_path=model_dir, backend="onnx", threads=2, pair_cache_size=0)).analyzer
    classifier, model_s, pairs = analyzer.classifier, [0.0], [0]
    predict = classifier.predict

    def timed_predict(units: list[str], contexts: list[str], batch_size: int = 64):
        started = time.perf_counter()
        try:
            return predict(units, contexts, batch_size)
        finally:
            model_s[0] += time.perf_counter() - started
            pairs[0] += len(units)

    classifier.predict = timed_predict
    gate_s = _time_method(classifier.topic_gate, "scores")
    ngram_s = _time_method(classifier.ngram, "proba")  # part of the classifier's calls: timed again on its own
    analyzer.analyze(FLAGGED_3)  # fills the phrasebook cache, as a warm server has
    model_s[0], pairs[0], gate_s[0], ngram_s[0] = 0.0, 0, 0.0, 0.0
    times = time_calls(lambda: analyzer.analyze(FLAGGED_3), repeats, warmup=0)
    return {
        "p50_ms": pct(times, 50),
        "model_share": model_s[0] * 1000 / sum(times),
        "gate_share": gate_s[0] * 1000 / sum(times),
        "ngram_share": ngram_s[0] * 1000 / sum(times),
        "pairs_per_analysis": pairs[0] / repeats,
    }


def typing(model_dir: Path) -> dict:
    """In process: a draft analyzed (with verified suggestions) after every word, as a browser extension
    re-sends it while the person types; per-analysis p50 and the whole draft's total, pair cache off and on."""
    import re

    from service.loader import load_rewriter
    from service.settings import Settings

    prefixes = [TYPED_DRAFT[: m.end()] for m in re.finditer(r"\S+", TYPED_DRAFT)]
    out = {}
    for name, size in (("pair cache off", 0), ("pair cache on", 4096)):
        settings = Settings(model_path=model_dir, backend="onnx", threads=2, pair_cache_size=size)
        analyzer = load_rewriter(settings).analyzer
        analyzer.analyze(FLAGGED_3)  # fills the phrasebook cache, as a warm server has
        times = [time_calls(lambda t=text, a=analyzer: a.analyze(t), 1, warmup=0)[0] for text in prefixes]
        out[name] = {"analyses": len(times), "p50_ms": pct(times, 50), "p95_ms": pct(times, 95), "total_ms": sum(times)}
    return out


# ---- a real server ------------------------------------------------------------------------------


async def _drive(url: str, text: str, total: int, concurrency: int) -> tuple[list[float], float, int]:
    import httpx

    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60, trust_env=False) as client:

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                queue.get_nowait()
                started = time.perf_counter()
                try:
                    response = await client.post("/v1/analyze", json={"text": text})
                    ok = response.status_code == 200
                except httpx.TransportError:
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, elapsed, errors


def drive(url: str, text: str, total: int, concurrency: int) -> dict:
    latencies, elapsed, errors = asyncio.run(_drive(url, text, total, concurrency))
    return {
        "requests": total,
        "errors": errors,
        "msgs_per_s": total / elapsed,
        "p50_ms": pct(latencies, 50),
        "p95_ms": pct(latencies, 95),
        "p99_ms": pct(latencies, 99),
    }


def server_figures(model_dir: Path, requests: int) -> dict:
    out: dict = {"end_to_end": {}, "throughput": {}, "startup": {}}
    for batching in ("on", "off"):
        # The pair cache is off: every request is read as if its text were new, so repeating one message
        # measures the model, not the cache (the typing scenario measures the cache).
        batching_env = "true" if batching == "on" else "false"
        with LocalServer(model_dir, micro_batching=batching_env, pair_cache_size="0") as server:
            if batching == "on":
                out["startup"] = {"ready_s": server.ready_s, "rss_mb_idle": server.rss_mb()}
                for name, text in (("short clean message", SHORT_CLEAN), ("three-sentence flagged", FLAGGED_3)):
                    drive(server.url, text, 20, 1)  # warm the connection and caches
                    out["end_to_end"][name] = drive(server.url, text, requests, 1)
            for concurrency in (1, 8, 32):
                out["throughput"].setdefault(batching, {})[str(concurrency)] = drive(
                    server.url, FLAGGED_3, max(requests, concurrency * 10), concurrency
                )
            out["startup"][f"rss_mb_after_load_batching_{batching}"] = server.rss_mb()
    return out


# ---- report ---------------------------------------------------------------------------------------


def markdown(report: dict) -> str:
    ref = report["model"]["reference"]
    ref_ms, ref_tp = ref["bare_fp32_ms_flagged_message"], ref["bare_fp32_batch32_msgs_per_s"]
    lines = [
        f"Measured {report['when']} on {report['machine']} (`make bench`). Reference: the base encoder's bare "
        f"fp32 forward pass on the three-sentence message ({ref['bare_fp32_tokens_flagged_message']} tokens, "
        f"batch 1, 2 threads) took **{ref_ms:.1f} ms** (median over two measurements, at the start and the end of "
        f"the run: {' and '.join(f'{m:.1f}' for m in ref['bare_fp32_ms_per_measurement'])} ms); at batch 32 it "
        f"gives **{ref_tp:.0f} msgs/s**.",
        "",
        "**Model only, batch 1, p50 / p95 ms** (× = p50 over the bare fp32 pass of the same length and threads; "
        "the ONNX backend runs one unit on one thread, so its rows differ only by noise)",
        "",
        "| variant | threads | " + " | ".join(f"{n} tok" for n in TOKENS) + " |",
        "|---|---|" + "---|" * len(TOKENS),
    ]
    lat = report["model"]["latency"]
    bare = lat["base encoder fp32 (bare forward)"]
    for name, per_threads in lat.items():
        for threads, per_len in per_threads.items():
            cells = [
                f"{v['p50_ms']:.1f} / {v['p95_ms']:.1f} ({v['p50_ms'] / bare[threads][n]['p50_ms']:.2f}×)"
                for n, v in per_len.items()
            ]
            lines.append(f"| {name} | {threads[:-1]} | " + " | ".join(cells) + " |")
    e2e = report["server"]["end_to_end"]
    lines += [
        "",
        "**`POST /v1/analyze` end to end over HTTP** (one client, sequential; full analysis with verified suggestions)",
        "",
        "| message | p50 ms | p95 ms | p99 ms | p50 × bare fp32 pass |",
        "|---|---|---|---|---|",
    ]
    for name, v in e2e.items():
        lines.append(
            f"| {name} | {v['p50_ms']:.1f} | {v['p95_ms']:.1f} | {v['p99_ms']:.1f} | {v['p50_ms'] / ref_ms:.2f}× |"
        )
    lines += [
        "",
        "**Throughput, three-sentence flagged message** (messages/s; × = over the bare fp32 batch-32 throughput)",
        "",
        "| concurrency | micro-batching on | errors | micro-batching off | errors |",
        "|---|---|---|---|---|",
    ]
    tp = report["server"]["throughput"]
    for c in tp["on"]:
        on, off = tp["on"][c], tp["off"][c]
        lines.append(
            f"| {c} | {on['msgs_per_s']:.0f} ({on['msgs_per_s'] / ref_tp:.2f}×), p50 {on['p50_ms']:.0f} ms "
            f"| {on['errors']} | {off['msgs_per_s']:.0f} ({off['msgs_per_s'] / ref_tp:.2f}×), "
            f"p50 {off['p50_ms']:.0f} ms | {off['errors']} |"
        )
    lines += [
        "",
        f"**ONNX int8 over {UNITS_FOR_THROUGHPUT} test-split units with their context** (model only, units/s)",
        "",
        "| how | units/s |",
        "|---|---|",
    ]
    lines += [f"| {name} | {v:.0f} |" for name, v in report["model"]["unit_throughput"].items()]
    bd = report["model"]["analysis_breakdown"]
    lines += [
        "",
        f"**Where the time goes** (in process, flagged message): analysis p50 {bd['p50_ms']:.1f} ms. The "
        f"classifier's calls ran for {bd['model_share']:.0%} of it, over {bd['pairs_per_analysis']:.0f} (unit, "
        f"context) pairs per analysis (its units, then the suggestions' candidates), and the topic gate's pass "
        f"over the whole message for {bd.get('gate_share', 0.0):.0%}; the gate runs beside the candidates, so the "
        f"two overlap. The n-gram layer's share of the classifier's calls: {bd.get('ngram_share', 0.0):.1%} of "
        "the analysis.",
    ]
    ty = report["model"]["typing"]
    off, on = ty["pair cache off"], ty["pair cache on"]
    lines += [
        "",
        f"**Typing** (in process: a {off['analyses']}-word draft analyzed after every word, with verified "
        "suggestions, as an extension re-sends it; ms per analysis)",
        "",
        "| pair cache | p50 ms | p95 ms | whole draft ms | p50 × bare fp32 pass |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {name.removeprefix('pair cache ')} | {v['p50_ms']:.1f} | {v['p95_ms']:.1f} | {v['total_ms']:.0f} "
        f"| {v['p50_ms'] / ref_ms:.2f}× |"
        for name, v in ty.items()
    ]
    st = report["server"]["startup"]
    lines += [
        "",
        f"**Start-up:** ready (`/readyz` 200, after the warm-up pass) **{st['ready_s']:.2f} s** after launch; "
        f"RSS {st['rss_mb_idle']:.0f} MB idle, {st['rss_mb_after_load_batching_on']:.0f} MB after the load above.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=get_settings().model_path)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--readme", action="store_true", help="also replace the table in README.md")
    args = parser.parse_args(argv)
    repeats, requests = (10, 40) if args.quick else (100, 300)
    latency = model_latency(args.model, repeats)
    reference_at_start = reference_samples(repeats)
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}",
        "model": {"latency": latency},
        "server": server_figures(args.model, requests),
    }
    report["model"]["unit_throughput"] = unit_throughput(args.model, UNITS_FOR_THROUGHPUT)
    report["model"]["analysis_breakdown"] = analysis_breakdown(args.model, repeats // 2)
    report["model"]["typing"] = typing(args.model)
    ref = report["model"]["reference"] = pooled_reference(reference_at_start, reference_samples(repeats))
    e2e = report["server"]["end_to_end"]["three-sentence flagged"]["p50_ms"]
    tp32 = report["server"]["throughput"]["on"]["32"]["msgs_per_s"]
    report["targets"] = {
        "analyze_p50_over_bare_fp32 (target <= 0.75)": e2e / ref["bare_fp32_ms_flagged_message"],
        "throughput_c32_over_bare_fp32_batch32 (target >= 1.5)": tp32 / ref["bare_fp32_batch32_msgs_per_s"],
        "ready_s (target <= 2)": report["server"]["startup"]["ready_s"],
        "rss_mb (target <= 300)": report["server"]["startup"]["rss_mb_after_load_batching_on"],
    }
    table = markdown(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (args.out / "results.md").write_text(table, encoding="utf-8")
    if args.readme:
        readme = ROOT / "README.md"
        text = readme.read_text(encoding="utf-8")
        head, rest = text.split(README_START, 1)
        _, tail = rest.split(README_END, 1)
        readme.write_text(f"{head}{README_START}\n{table}{README_END}{tail}", encoding="utf-8")
    print(table)
    print(json.dumps(report["targets"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
