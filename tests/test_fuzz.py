"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis), bounded in examples."""

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from service.api import create_app
from service.settings import Settings


@pytest.fixture(scope="module")
def api_schema(tiny_rewriter, tiny_model_dir):
    app = create_app(Settings(model_path=tiny_model_dir, max_body_bytes=8192), rewriter=tiny_rewriter)
    with TestClient(app):  # runs the lifespan: the app is ready while the schema is fuzzed
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.xfail(strict=True, reason="known defect: schemathesis 4.32's pytest plugin fails on pytest 9")
@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_never_fails_and_matches_its_schema(case):
    # not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance, ...
    case.call_and_validate()
