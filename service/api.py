"""Heartfelt's HTTP API (FastAPI). Message text is never logged, stored or echoed in errors."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from service import __version__
from service.analyzer import Analyzer, InvalidTextError, check_text
from service.labels import LABELS
from service.schemas import Analysis
from service.settings import Settings, get_settings

log = logging.getLogger("heartfelt.api")


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(description="The message to analyze. Offsets in the answer are code-point indices into it.")


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | int = Field(description="Your identifier, echoed back.")
    text: str


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[BatchItem] = Field(min_length=1)


class BatchResult(BaseModel):
    id: str | int
    result: Analysis | None = None
    error: ErrorDetail | None = None


class BatchResponse(BaseModel):
    results: list[BatchResult]


class Info(BaseModel):
    name: str
    version: str
    service_version: str
    labels: list[str]
    thresholds: dict[str, float]
    max_text_length: int
    max_batch_items: int
    offsets: str = "Unicode code points (JavaScript: count with Array.from(text), not text.length)"


class State:
    analyzer: Analyzer | None = None
    ready: bool = False


ERRORS = {code: {"model": ErrorBody} for code in (401, 413, 415, 422, 429, 503)}


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": kind, "message": message}}, status_code=status, headers={"Cache-Control": "no-store"}
    )


def create_app(settings: Settings | None = None, analyzer: Analyzer | None = None) -> FastAPI:
    settings = settings or get_settings()
    state = State()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from service.loader import load_analyzer

        state.analyzer = analyzer or await asyncio.to_thread(load_analyzer, settings)
        await asyncio.to_thread(state.analyzer.analyze, "I'm sorry. I'll call you tonight.")  # warm-up
        state.ready = True
        yield
        state.ready = False

    app = FastAPI(
        title="Heartfelt",
        version=__version__,
        description="Emotion-aware reflection for apology messages. Offsets are Unicode code-point indices.",
        lifespan=lifespan,
    )

    def ready_analyzer() -> Analyzer:
        if not state.ready or state.analyzer is None:
            raise StarletteHTTPException(503, "the model is still loading")
        return state.analyzer

    AnalyzerDep = Annotated[Analyzer, Depends(ready_analyzer)]

    @app.middleware("http")
    async def access_log(request: Request, call_next: Any):
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        started = time.perf_counter()
        response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Request-ID"] = request_id
        log.info(
            "request",
            extra={"request_id": request_id, "route": request.url.path, "status": response.status_code,
                   "latency_ms": round((time.perf_counter() - started) * 1000, 2)},
        )  # fmt: skip
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kinds = {404: "not_found", 405: "method_not_allowed", 503: "not_ready"}
        return _error(exc.status_code, kinds.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Describe where the body is wrong, never what it contained.
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return _error(422, "invalid_request", f"{where}: {first.get('msg', 'invalid value')}")

    @app.exception_handler(InvalidTextError)
    async def invalid_text(_: Request, exc: InvalidTextError) -> JSONResponse:
        return _error(422, "invalid_text", str(exc))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", extra={"error_type": type(exc).__name__})
        return _error(500, "internal_error", "the server failed to handle this request")

    @app.get("/livez", tags=["health"])
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", tags=["health"], responses={503: {"model": ErrorBody}})
    async def readyz(_: AnalyzerDep) -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/v1/info", response_model=Info, tags=["model"], responses={503: {"model": ErrorBody}})
    async def info(analyzer: AnalyzerDep) -> Info:
        meta = analyzer.classifier.info
        return Info(
            name=meta.name,
            version=meta.version,
            service_version=__version__,
            labels=list(LABELS),
            thresholds=meta.thresholds,
            max_text_length=settings.max_text_length,
            max_batch_items=settings.max_batch_items,
        )

    @app.post("/v1/analyze", response_model=Analysis, tags=["analyze"], responses=ERRORS)
    async def analyze(body: AnalyzeRequest, analyzer: AnalyzerDep) -> Analysis:
        return await asyncio.to_thread(analyzer.analyze, body.text)

    @app.post("/v1/analyze/batch", response_model=BatchResponse, tags=["analyze"], responses=ERRORS)
    async def analyze_batch(body: BatchRequest, analyzer: AnalyzerDep) -> BatchResponse:
        if len(body.items) > settings.max_batch_items:
            return _error(422, "invalid_request", f"items: at most {settings.max_batch_items} items per batch")
        results: list[BatchResult] = []
        good: list[tuple[int, str]] = []
        for i, item in enumerate(body.items):
            try:
                analyzer_text = check_text(item.text, analyzer.max_length)
            except InvalidTextError as exc:
                results.append(BatchResult(id=item.id, error=ErrorDetail(type="invalid_text", message=str(exc))))
                continue
            results.append(BatchResult(id=item.id))
            good.append((i, analyzer_text))
        analyses = await asyncio.to_thread(analyzer.analyze_many, [t for _, t in good])
        for (i, _), analysis in zip(good, analyses, strict=True):
            results[i].result = analysis
        return BatchResponse(results=results)

    return app


def __getattr__(name: str) -> Any:
    # `uvicorn service.api:app` builds the app on first access, so importing this module stays cheap.
    if name == "app":
        return create_app()
    raise AttributeError(name)
