"""Typed settings, read from environment variables prefixed ``HEARTFELT_`` (and a ``.env`` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL_DIR = PROJECT_ROOT / "models" / "heartfelt-minilm"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEARTFELT_", env_file=".env", extra="ignore")

    model_path: Path = Field(DEFAULT_MODEL_DIR, description="Directory of the trained model (`make model` builds it).")
    max_text_length: int = Field(5000, ge=1, description="Longest text accepted, in characters (code points).")
    host: str = Field("127.0.0.1", description="Address the API binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port the API listens on.")
    max_batch_items: int = Field(64, ge=1, description="Most items in one /v1/analyze/batch request.")
    threads: int | None = Field(None, ge=1, description="Torch intra-op threads; unset uses torch's default.")
    log_json: bool = Field(False, description="Write logs as JSON lines instead of console text.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
