"""Heartfelt's HTTP API (FastAPI). Message text is never logged, stored, or echoed in errors or metrics."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_fastapi_instrumentator import Instrumentator
from slowapi.errors import RateLimitExceeded
from slowapi.middleware import SlowAPIASGIMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException

from service import __version__
from service.analyzer import Analyzer, InvalidTextError, check_text
from service.api_schemas import (
    AnalyzeRequest,
    BatchRequest,
    BatchResponse,
    BatchResult,
    ErrorBody,
    ErrorDetail,
    Info,
)
from service.batcher import MicroBatcher, Overloaded
from service.labels import LABELS
from service.middleware import BodyLimitMiddleware, RequestContextMiddleware, log_unhandled
from service.observability import Metrics
from service.rewriter import Rewriter
from service.schemas import Analysis, RewriteResult
from service.security import api_key_guard, build_limiter
from service.settings import Settings, get_settings

log = structlog.get_logger("heartfelt.api")

ERROR_TYPES = {
    400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
    413: "payload_too_large", 415: "unsupported_media_type", 429: "rate_limited", 503: "not_ready",
}  # fmt: skip
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": kind} for code, kind in ERROR_TYPES.items() if code not in (400, 404, 405)
} | {
    422: {"model": ErrorBody, "description": "invalid_request or invalid_text"},
    503: {"model": ErrorBody, "description": "not_ready (the model is loading) or overloaded (the queue is full)"},
}
WARMUP_TEXT = "I'm sorry I missed your call. I'll ring you tonight."
NO_STORE = {"Cache-Control": "no-store"}


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    # no-store here too: some errors (413, 429, 500) are answered outside the middleware that sets it.
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status, headers=NO_STORE)


class Runtime:
    """What the lifespan loads: the rewrite engine (which holds the analyzer), and readiness."""

    rewriter: Rewriter | None = None
    batcher: MicroBatcher | None = None
    ready: bool = False


def create_app(settings: Settings | None = None, rewriter: Rewriter | None = None) -> FastAPI:
    """Build the app. Tests pass a preloaded ``rewriter``; otherwise the lifespan loads one from settings."""
    settings = settings or get_settings()
    runtime = Runtime()
    metrics = Metrics()
    limiter = build_limiter(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        from service.loader import load_rewriter

        runtime.rewriter = rewriter or await asyncio.to_thread(load_rewriter, settings)
        model = runtime.rewriter.analyzer.classifier
        metrics.watch_pair_cache(getattr(model, "cache", None))  # the ONNX backend's; torch has none
        if settings.micro_batching:
            runtime.batcher = MicroBatcher(
                model, settings.batch_wait_ms, settings.batch_max_units, settings.queue_limit
            )
            runtime.rewriter.analyzer.classifier = runtime.batcher  # every model call, rewrites included
        await asyncio.to_thread(runtime.rewriter.rewrite, WARMUP_TEXT)
        runtime.ready = True
        log.info("ready", model=runtime.rewriter.analyzer.model_ref.version, backend=model.backend)
        try:
            yield
        finally:
            runtime.ready = False
            if runtime.batcher is not None:
                runtime.rewriter.analyzer.classifier = model  # a preloaded rewriter outlives the app
                runtime.batcher.close()
                runtime.batcher = None

    app = FastAPI(
        title="Heartfelt",
        version=__version__,
        summary="Emotion-aware reflection for apology messages.",
        description=(
            "Flags vague, defensive and dismissive phrases and recognises strengths. All offsets are Unicode "
            "code-point indices into the submitted text (JavaScript: use `Array.from(text)`, whose indices "
            "count code points, not `text.length`, which counts UTF-16 units). Errors share one shape: "
            '`{"error": {"type": ..., "message": ...}}`.'
        ),
        lifespan=lifespan,
    )
    app.state.limiter = limiter

    # async: FastAPI runs a plain ``def`` dependency on a worker thread, a hop per request for nothing.
    async def ready_rewriter() -> Rewriter:
        if not runtime.ready or runtime.rewriter is None:
            raise StarletteHTTPException(503, "the model is still loading")
        return runtime.rewriter

    async def ready_analyzer(rewriter: Annotated[Rewriter, Depends(ready_rewriter)]) -> Analyzer:
        return rewriter.analyzer

    ReadyRewriter = Annotated[Rewriter, Depends(ready_rewriter)]
    ReadyAnalyzer = Annotated[Analyzer, Depends(ready_analyzer)]
    guarded = [Depends(api_key_guard(settings))]

    # ---- errors: one shape, never the submitted text ----
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not decode the body (e.g. not UTF-8): a bad request body
            return error_response(422, "invalid_request", "body: the body is not valid UTF-8 JSON")
        return error_response(exc.status_code, ERROR_TYPES.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc, msg = [p for p in first.get("loc", ()) if p != "body"], first.get("msg", "invalid value")
        if first.get("type") == "extra_forbidden":  # the unknown key is the client's text: never echo it
            loc, msg = loc[:-1], "unexpected field; only the documented fields are accepted"
        where = ".".join(str(p) for p in loc) or "body"
        return error_response(422, "invalid_request", f"{where}: {msg}")

    @app.exception_handler(InvalidTextError)
    async def invalid_text(_: Request, exc: InvalidTextError) -> JSONResponse:
        return error_response(422, "invalid_text", str(exc))

    @app.exception_handler(RateLimitExceeded)
    def rate_limited(_: Request, exc: RateLimitExceeded) -> JSONResponse:
        return error_response(429, "rate_limited", f"rate limit exceeded ({exc.detail}); retry later")

    @app.exception_handler(Overloaded)
    async def overloaded(_: Request, exc: Overloaded) -> JSONResponse:
        return error_response(503, "overloaded", "the server is busy; retry in a moment")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Raised outside RequestContextMiddleware (which answers the app's own errors).
        log_unhandled(exc)
        return error_response(500, "internal_error", "the server failed to handle this request")

    # ---- middleware (the last added runs first) ----
    app.add_middleware(RequestContextMiddleware, error=error_response)
    # HTTP request metrics by route template (never paths with data, never bodies), in the app's registry.
    Instrumentator(registry=metrics.registry, excluded_handlers=["/metrics"]).instrument(app)
    if limiter.enabled:  # off by default: no per-request cost then
        app.add_middleware(SlowAPIASGIMiddleware)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_origin_regex=settings.cors_origin_regex or None,
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", "Authorization", "X-API-Key", "X-Request-ID"],
        max_age=600,
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)

    # ---- routes ----
    @app.get("/livez", tags=["health"])
    @limiter.exempt
    async def livez(request: Request) -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", tags=["health"], responses={503: {"model": ErrorBody}})
    @limiter.exempt
    async def readyz(request: Request, _: ReadyAnalyzer) -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/metrics", tags=["health"], response_class=Response)
    @limiter.exempt
    async def prometheus_metrics(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/info", response_model=Info, tags=["model"], dependencies=guarded, responses=ERROR_RESPONSES)
    async def info(request: Request, analyzer: ReadyAnalyzer) -> Info:
        meta = analyzer.classifier.info
        return Info(
            name=meta.name,
            version=meta.version,
            service_version=__version__,
            labels=list(LABELS),
            thresholds=meta.thresholds,
            topic_gate_threshold=gate.threshold if (gate := analyzer.classifier.topic_gate) else None,
            topic_gate_confidence_weight=gate.confidence_weight if gate else None,
            ngram_weight=layer.weight if (layer := analyzer.classifier.ngram) else None,
            max_text_length=settings.max_text_length,
            max_batch_items=settings.max_batch_items,
            max_body_bytes=settings.max_body_bytes,
        )

    async def timed(route: str, work: Callable[[], Any]) -> Any:
        started = time.perf_counter()

        def run() -> Any:
            with runtime.batcher.request() if runtime.batcher else nullcontext():
                return work()

        result = await asyncio.to_thread(run)  # off the event loop: health checks stay responsive
        metrics.inference_seconds.labels(route=route).observe(time.perf_counter() - started)
        return result

    def count(route: str, analyses: list[Analysis]) -> None:
        metrics.messages.labels(route=route).inc(len(analyses))
        for analysis in analyses:
            for flag in analysis.flags:
                metrics.flags.labels(pattern=flag.pattern).inc()

    @app.post("/v1/analyze", response_model=Analysis, tags=["analyze"], dependencies=guarded,
              responses=ERROR_RESPONSES)  # fmt: skip
    async def analyze(request: Request, body: AnalyzeRequest, analyzer: ReadyAnalyzer) -> Analysis:
        request.state.text_chars = len(body.text)  # its length only, for the access log
        check_text(body.text, settings.max_text_length)
        analysis = await timed("analyze", lambda: analyzer.analyze(body.text))
        count("analyze", [analysis])
        return analysis

    @app.post("/v1/analyze/batch", response_model=BatchResponse, tags=["analyze"], dependencies=guarded,
              responses=ERROR_RESPONSES)  # fmt: skip
    async def analyze_batch(request: Request, body: BatchRequest, analyzer: ReadyAnalyzer) -> BatchResponse:
        if len(body.items) > settings.max_batch_items:
            raise RequestValidationError([{"loc": ("items",), "msg": f"at most {settings.max_batch_items} items"}])
        results, good = [], []
        for i, item in enumerate(body.items):
            try:
                good.append((i, check_text(item.text, settings.max_text_length)))
                results.append(BatchResult(id=item.id))
            except InvalidTextError as exc:  # one bad item does not fail the others
                results.append(BatchResult(id=item.id, error=ErrorDetail(type="invalid_text", message=str(exc))))
        request.state.text_chars = sum(len(t) for _, t in good)
        analyses = await timed("batch", lambda: analyzer.analyze_many([t for _, t in good]))
        for (i, _), analysis in zip(good, analyses, strict=True):
            results[i].result = analysis
        count("batch", analyses)
        return BatchResponse(results=results)

    @app.post("/v1/rewrite", response_model=RewriteResult, tags=["rewrite"], dependencies=guarded,
              responses=ERROR_RESPONSES)  # fmt: skip
    async def rewrite(request: Request, body: AnalyzeRequest, rewriter: ReadyRewriter) -> RewriteResult:
        request.state.text_chars = len(body.text)  # its length only, for the access log
        check_text(body.text, settings.max_text_length)
        result = await timed("rewrite", lambda: rewriter.rewrite(body.text))
        metrics.messages.labels(route="rewrite").inc()
        return result

    return app


def __getattr__(name: str) -> Any:
    # `uvicorn service.api:app` builds the app on first access, so importing this module stays cheap.
    if name == "app":
        from service.observability import configure_logging

        configure_logging(json_lines=get_settings().log_json)
        return create_app()
    raise AttributeError(name)
