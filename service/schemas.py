"""The public JSON contract shared by the CLI, the HTTP API and browser extensions.

Offsets (``start``/``end``) are Unicode code-point indices into the submitted text, end exclusive.
JavaScript callers: JS strings count UTF-16 code units, so convert with ``Array.from(text)``
(or count code points) before slicing when the text holds emoji or other astral characters.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from service.labels import Category, Pattern, Strength


class Suggestion(BaseModel):
    text: str = Field(description="A rewrite of the flagged phrase.")
    strategy: str = Field(description="The idea behind it, in a few words a person understands.")


class Span(BaseModel):
    start: int = Field(ge=0, description="Code-point offset of the first character.")
    end: int = Field(ge=0, description="Code-point offset just past the last character.")
    text: str = Field(description="Exactly text[start:end].")


class Flag(Span):
    category: Category
    pattern: Pattern
    score: float = Field(ge=0, le=1, description="The classifier's probability for this pattern.")
    explanation: str = Field(description="Why this may land badly, in one plain sentence.")
    impact: str = Field(description="How the recipient is likely to feel.")
    suggestions: list[Suggestion] = Field(default_factory=list)


class StrengthSpan(Span):
    strength: Strength
    score: float = Field(ge=0, le=1)
    impact: str = Field(description="How the recipient is likely to feel.")


class ModelRef(BaseModel):
    name: str
    version: str


class Analysis(BaseModel):
    model_config = ConfigDict(json_schema_extra={"description": "Heartfelt's reading of one message."})

    flags: list[Flag]
    strengths: list[StrengthSpan]
    score: int = Field(ge=0, le=100, description="How accountable and validating the message is (see README).")
    summary: str
    model: ModelRef


class Edit(BaseModel):
    start: int = Field(ge=0, description="Code-point offset into the original text.")
    end: int = Field(ge=0, description="Code-point offset just past the replaced part of the original text.")
    original: str = Field(description="Exactly original[start:end].")
    replacement: str = Field(description="What stands in its place in the rewrite (may be empty).")
    pattern: Pattern = Field(description="The flag this edit answers.")
    strategy: str = Field(description="The idea behind the edit, in a few words.")


class Placeholder(BaseModel):
    start: int = Field(ge=0, description="Code-point offset into the rewrite.")
    end: int = Field(ge=0, description="Code-point offset just past the closing bracket, in the rewrite.")
    hint: str = Field(description="What the writer should put there.")


class Addition(BaseModel):
    text: str = Field(description="A sentence the writer may add; it is not inserted.")
    strength: Strength = Field(description="The strength the message lacks and this sentence would add.")


class RewriteResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"description": "A revised draft and how it was made."})

    rewrite: str
    edits: list[Edit]
    placeholders: list[Placeholder]
    additions: list[Addition]
    analysis: Analysis = Field(description="The analyzer's reading of the rewrite.")
