"""Request and response bodies of the HTTP API (the analysis itself is in service.schemas)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from service.schemas import Analysis


class ErrorDetail(BaseModel):
    type: str = Field(description="A stable, machine-readable error kind.")
    message: str = Field(description="What is wrong, for a person. Never quotes the submitted text.")


class ErrorBody(BaseModel):
    error: ErrorDetail


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(description="The message. Offsets in the answer are code-point indices into it.")


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
    max_body_bytes: int
    offsets: str = "Unicode code points (JavaScript: index Array.from(text), not the UTF-16 string)"
