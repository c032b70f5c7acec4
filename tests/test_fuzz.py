"""Property-based fuzzing of the API from its own OpenAPI schema, bounded in examples.

Schemathesis derives the requests from the app's ``/openapi.json`` (positive: bodies the schema allows;
negative: bodies it forbids) and checks every response against the schema; plain Hypothesis drives it,
because schemathesis' pytest plugin does not load on pytest 9.
"""

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.api import create_app
from service.settings import Settings

# No `positive_data_acceptance`: the schema cannot say "not only whitespace" or the configured length limit,
# so some schema-valid bodies are rightly answered 422 (which the schema declares).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 30


def rejects_negative_data(ctx, response, case):
    """schemathesis' negative-data check, counting 413 as a rejection: a schema-invalid body that is also
    larger than the body limit is refused for its size before anything parses it."""
    if response.status_code == 413:
        return None
    return negative_data_rejection(ctx, response, case)


def fuzz_targets() -> list[tuple[str, GenerationMode]]:
    """Every operation in the app's schema (built without a model); the negative mode where there is a body."""
    spec = create_app(Settings()).openapi()
    targets = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            label = f"{method.upper()} {path}"
            targets.append((label, GenerationMode.POSITIVE))
            if "requestBody" in operation:
                targets.append((label, GenerationMode.NEGATIVE))
    return targets


@pytest.fixture(scope="module")
def api_schema(tiny_rewriter, tiny_model_dir):
    app = create_app(Settings(model_path=tiny_model_dir, max_body_bytes=8192), rewriter=tiny_rewriter)
    with TestClient(app):  # runs the lifespan: the app is ready while the schema is fuzzed
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def check_offsets(body: object, response) -> None:
    """Every span of an analysis indexes the submitted text in code points."""
    if response.status_code != 200 or not isinstance(body, dict):
        return
    analysis = response.json()
    for span in [*analysis["flags"], *analysis["strengths"]]:
        assert body["text"][span["start"] : span["end"]] == span["text"]


@pytest.mark.parametrize(("label", "mode"), fuzz_targets(), ids=lambda v: getattr(v, "value", v))
def test_api_never_fails_and_matches_its_schema(api_schema, label, mode):
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label
    checks = [*CHECKS, rejects_negative_data] if mode is GenerationMode.NEGATIVE else CHECKS
    statuses: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case):
        # no 5xx, a declared status, content type, headers and body schema (the one error shape for errors)
        response = case.call_and_validate(checks=checks)
        assert response.headers.get("cache-control") == ["no-store"]  # lowercase keys, lists of values
        if label == "POST /v1/analyze" and mode is GenerationMode.POSITIVE:
            check_offsets(case.body, response)
        statuses.append(response.status_code)

    fuzz()
    assert statuses and max(statuses) < 500
    if mode is GenerationMode.NEGATIVE:
        assert all(400 <= s < 500 for s in statuses), statuses
