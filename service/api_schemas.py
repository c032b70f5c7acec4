"""Request and response bodies of the HTTP API (the analysis itself is in service.schemas)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from service.schemas import Analysis


def _well_formed(value: str | int) -> str | int:
    """Reject unpaired UTF-16 surrogates (a lone ``\\ud800`` JSON escape): they are not characters, and they
    can be neither tokenized nor written back as UTF-8. The message never quotes the value."""
    try:
        if isinstance(value, str):
            value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains an unpaired UTF-16 surrogate (an invalid \\uD800-\\uDFFF escape)") from None
    return value


# Well-formed Unicode only; emoji sent as escaped surrogate pairs arrive joined, and are accepted.
UnicodeText = Annotated[str, AfterValidator(_well_formed)]
ClientId = Annotated[str | int, AfterValidator(_well_formed)]


class ErrorDetail(BaseModel):
    type: str = Field(description="A stable, machine-readable error kind.")
    message: str = Field(description="What is wrong, for a person. Never quotes the submitted text.")


class ErrorBody(BaseModel):
    error: ErrorDetail


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: UnicodeText = Field(description="The message. Offsets in the answer are code-point indices into it.")


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: ClientId = Field(description="Your identifier, echoed back.")
    text: UnicodeText


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
    topic_gate_threshold: float | None = Field(
        None, description="a flag also needs its whole message to score at least this on the topic gate (null: no gate)"
    )
    topic_gate_confidence_weight: float | None = Field(
        None,
        description="weight of the classifier's confidence in the gate's rule: a message passes when "
        "logit(gate score) + weight * logit(strongest flag probability, clipped to [0.5, 0.999]) reaches "
        "logit(topic_gate_threshold); 0 means the gate score alone (null: no gate)",
    )
    ngram_weight: float | None = Field(
        None,
        description="each label's probability is (1 - weight) * the encoder's + weight * the n-gram layer's "
        "before the thresholds apply (null: the encoder alone)",
    )
    max_text_length: int
    max_batch_items: int
    max_body_bytes: int
    offsets: str = "Unicode code points (JavaScript: index Array.from(text), not the UTF-16 string)"
