"""The HTTP API through FastAPI's TestClient, with a real (tiny) model behind it."""

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.schemas import Analysis
from service.settings import Settings


@pytest.fixture(scope="module")
def client(tiny_analyzer, tiny_model_dir):
    app = create_app(Settings(model_path=tiny_model_dir, max_batch_items=4), analyzer=tiny_analyzer)
    with TestClient(app) as c:
        yield c


def test_health_and_info(client):
    assert client.get("/livez").json() == {"status": "alive"}
    assert client.get("/readyz").status_code == 200
    info = client.get("/v1/info").json()
    assert info["name"] == "heartfelt-minilm" and len(info["labels"]) == 10
    assert info["max_batch_items"] == 4 and info["max_text_length"] == 5000


def test_analyze_returns_the_contract_and_no_store(client):
    r = client.post("/v1/analyze", json={"text": "Sorry if you were hurt. I'll call you at 8."})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    Analysis.model_validate(r.json())


@pytest.mark.parametrize(
    "body",
    [{"text": ""}, {"text": "   "}, {"text": 5}, {"text": "hi", "extra": 1}, {}, {"text": "x" * 5001}],
)
def test_bad_bodies_get_one_error_shape(client, body):
    r = client.post("/v1/analyze", json=body)
    assert r.status_code == 422
    error = r.json()["error"]
    assert set(error) == {"type", "message"}
    assert "xxxx" not in error["message"]


def test_batch_answers_in_order_and_isolates_bad_items(client):
    items = [{"id": 1, "text": "Sorry for everything."}, {"id": "b", "text": " "}, {"id": 3, "text": "See you soon!"}]
    r = client.post("/v1/analyze/batch", json={"items": items})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["id"] for x in results] == [1, "b", 3]
    assert results[1]["error"]["type"] == "invalid_text" and results[1]["result"] is None
    Analysis.model_validate(results[0]["result"])
    Analysis.model_validate(results[2]["result"])


def test_batch_limit(client):
    items = [{"id": i, "text": "hello"} for i in range(5)]
    r = client.post("/v1/analyze/batch", json={"items": items})
    assert r.status_code == 422 and "at most 4" in r.json()["error"]["message"]


def test_unknown_route_uses_the_error_shape(client):
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"
