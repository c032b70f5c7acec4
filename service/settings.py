"""Typed settings, read from environment variables prefixed ``HEARTFELT_`` (and a ``.env`` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL_DIR = PROJECT_ROOT / "models" / "heartfelt-minilm"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEARTFELT_", env_file=".env", extra="ignore")

    model_path: Path = Field(DEFAULT_MODEL_DIR, description="Directory of the trained model (`make model` builds it).")
    max_text_length: int = Field(5000, ge=1, description="Longest text accepted, in characters (code points).")
    host: str = Field("127.0.0.1", description="Address the API binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port the API listens on.")
    max_batch_items: int = Field(64, ge=1, description="Most items in one /v1/analyze/batch request.")
    backend: Literal["auto", "onnx", "torch"] = Field(
        "auto", description="Inference backend; `auto` serves the int8 ONNX export when the model has one."
    )
    threads: int | None = Field(
        None,
        ge=1,
        description=(
            "Inference threads: torch intra-op threads, or concurrent single-threaded ONNX runs; "
            "unset uses the CPUs available."
        ),
    )
    pair_cache_size: int = Field(
        4096,
        ge=0,
        description=(
            "Model outputs kept for recently read (sentence, neighbours) pairs, so text re-sent while typing "
            "is not read again (ONNX backend; keyed by digests, no text kept); 0 turns it off."
        ),
    )
    micro_batching: bool = Field(True, description="Coalesce concurrent requests into shared model calls.")
    batch_wait_ms: float = Field(
        2.0, ge=0, le=100, description="Longest a request waits for others to share its model call (micro-batching)."
    )
    batch_max_units: int = Field(64, ge=1, description="Most sentence units in one coalesced model call.")
    queue_limit: int = Field(256, ge=1, description="Requests waiting for the model before new ones get 503.")
    log_json: bool = Field(False, description="Write logs as JSON lines instead of console text.")
    max_body_bytes: int = Field(65_536, ge=1024, description="Largest request body accepted, in bytes (413 above).")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Extra allowed CORS origins, comma-separated."
    )
    cors_origin_regex: str = Field(
        r"^https?://(localhost|127\.0\.0\.1)(:\d+)?$",
        description="Allowed CORS origins as a regex, e.g. ^chrome-extension://<id>$ for a browser extension.",
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated API keys; empty turns authentication off."
    )
    rate_limit: str = Field("", description='Per-client limit such as "60/minute"; empty turns it off.')
    workers: int = Field(1, ge=1, description="Uvicorn worker processes.")
    keep_alive_s: int = Field(
        75,
        ge=1,
        description=(
            "Seconds an idle keep-alive connection stays open. Longer than clients' own idle expiry "
            "(httpx: 5 s, the same as uvicorn's default), so the client closes first and never reuses "
            "a connection the server is closing."
        ),
    )

    @field_validator("cors_origins", "api_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
