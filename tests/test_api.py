"""The HTTP API through FastAPI's TestClient, with a real (tiny) model behind it."""

import json
import logging

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.schemas import Analysis
from service.settings import Settings
from training.topic_gate import CONFIDENCE_WEIGHT
from training.train import TrainConfig


def make_client(rewriter, model_dir, **overrides) -> TestClient:
    return TestClient(create_app(Settings(model_path=model_dir, **overrides), rewriter=rewriter))


@pytest.fixture(scope="module")
def client(tiny_rewriter, tiny_model_dir):
    with make_client(tiny_rewriter, tiny_model_dir, max_batch_items=4, max_body_bytes=2048) as c:
        yield c


def assert_error(response, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"error": {"type": kind, "message": response.json()["error"]["message"]}}
    assert response.headers["cache-control"] == "no-store"


def test_health_info_and_openapi(client):
    assert client.get("/livez").json() == {"status": "alive"}
    assert client.get("/readyz").json() == {"status": "ready"}
    info = client.get("/v1/info").json()
    assert info["name"] == "heartfelt-minilm" and len(info["labels"]) == 10
    assert 0.0 < info["topic_gate_threshold"] < 1.0
    assert info["topic_gate_confidence_weight"] == CONFIDENCE_WEIGHT  # the build's rule (training.topic_gate)
    assert info["ngram_weight"] == TrainConfig.ngram_weight  # the build's blend (service.ngram)
    assert info["max_batch_items"] == 4 and info["max_text_length"] == 5000 and info["max_body_bytes"] == 2048
    spec = client.get("/openapi.json").json()
    responses = spec["paths"]["/v1/analyze"]["post"]["responses"]
    assert {"413", "415", "422", "429", "401", "503"} <= set(responses)
    assert responses["413"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")


def test_analyze_returns_the_contract_and_no_store(client):
    text = "Sorry if you were hurt 💔. I'll call you at 8."
    r = client.post("/v1/analyze", json={"text": text})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store" and r.headers["x-request-id"]
    analysis = Analysis.model_validate(r.json())
    for span in [*analysis.flags, *analysis.strengths]:
        assert text[span.start : span.end] == span.text


@pytest.mark.parametrize(
    "body",
    [
        {"text": ""},
        {"text": "   \n"},
        {"text": 5},
        {"text": None},
        {"text": "hi", "extra": 1},
        {},
        [],
    ],
)
def test_bad_bodies_are_422_in_one_shape(client, body):
    r = client.post("/v1/analyze", json=body)
    assert_error(r, 422, r.json()["error"]["type"])
    assert r.json()["error"]["type"] in {"invalid_request", "invalid_text"}
    assert "xxxx" not in r.text


def test_text_over_the_length_limit_is_422(tiny_rewriter, tiny_model_dir):
    with make_client(tiny_rewriter, tiny_model_dir, max_text_length=10) as c:
        assert_error(c.post("/v1/analyze", json={"text": "this is more than ten"}), 422, "invalid_text")


def test_body_over_the_byte_limit_is_413_before_parsing(client):
    assert_error(client.post("/v1/analyze", json={"text": "a" * 3000}), 413, "payload_too_large")


def test_streamed_body_over_the_byte_limit_is_413(client):
    def chunks():  # no Content-Length: the limit is enforced while the body streams in
        yield b'{"text": "'
        for _ in range(10):
            yield b"a" * 500
        yield b'"}'

    r = client.post("/v1/analyze", content=chunks(), headers={"content-type": "application/json"})
    assert_error(r, 413, "payload_too_large")


def test_non_json_is_415(client):
    r = client.post("/v1/analyze", content="text=hi", headers={"content-type": "text/plain"})
    assert_error(r, 415, "unsupported_media_type")
    assert_error(client.post("/v1/analyze", content=b"{}"), 415, "unsupported_media_type")


def test_request_id_is_echoed_or_made(client):
    given = client.get("/livez", headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = {client.get("/livez").headers["x-request-id"] for _ in range(3)}
    assert len(made) == 3 and all(len(r) == 32 for r in made)


def test_an_unexpected_failure_is_500_in_one_shape_and_quotes_nothing(client, tiny_rewriter, monkeypatch, capsys):
    marker = "private-marker-500"

    def fail(text: str):
        raise RuntimeError(f"broke on {text}")  # a message that quotes the text, as a library's might

    monkeypatch.setattr(tiny_rewriter.analyzer, "analyze", fail)
    r = client.post("/v1/analyze", json={"text": f"I lied about {marker}."}, headers={"x-request-id": "r-500"})
    assert_error(r, 500, "internal_error")
    assert r.headers["x-request-id"] == "r-500" and marker not in r.text
    assert marker not in "".join(capsys.readouterr())
    monkeypatch.undo()
    assert client.post("/v1/analyze", json={"text": "I lied about Friday."}).status_code == 200


def test_malformed_json_and_unicode(client):
    assert_error(
        client.post("/v1/analyze", content=b'{"text": ', headers={"content-type": "application/json"}),
        422,
        "invalid_request",
    )
    for text in ["مرحبا، أنا آسف", "e\u0301 combining", "nul \u0000 inside", "\u202eRTL override", "🙏🏽👨‍👩‍👧"]:
        r = client.post("/v1/analyze", json={"text": text})
        assert r.status_code == 200, text
    lone = b'{"text": "broken \\ud800 surrogate"}'
    r = client.post("/v1/analyze", content=lone, headers={"content-type": "application/json"})
    assert r.status_code in (200, 422) and r.status_code != 500
    if r.status_code == 422:
        assert_error(r, 422, r.json()["error"]["type"])
    pair = b'{"text": "paired \\ud83d\\ude4f escapes"}'  # an emoji escaped as a valid pair is fine
    assert client.post("/v1/analyze", content=pair, headers={"content-type": "application/json"}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"items": [{"id": "\\udc00", "text": "hi"}]}',  # an id that could not be echoed back as UTF-8
        b'{"items": [{"id": 1, "text": "lone \\udfff"}]}',
        b'{"text": "\xff\xfe not utf-8"}',
        b'{"text": "hi", "secret-field-name-31337": 1}',  # the client's key is not echoed either
    ],
)
def test_odd_bodies_are_422_and_never_echoed(client, body):
    path = "/v1/analyze/batch" if body.startswith(b'{"items"') else "/v1/analyze"
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert_error(r, 422, "invalid_request")
    assert "secret-field-name" not in r.text and "lone" not in r.text and "not utf-8" not in r.text


def test_batch_answers_in_order_and_isolates_bad_items(client):
    items = [{"id": 1, "text": "Sorry for everything."}, {"id": "b", "text": " "}, {"id": 3, "text": "See you soon!"}]
    r = client.post("/v1/analyze/batch", json={"items": items})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["id"] for x in results] == [1, "b", 3]
    assert results[1]["error"]["type"] == "invalid_text" and results[1]["result"] is None
    Analysis.model_validate(results[0]["result"])
    Analysis.model_validate(results[2]["result"])


def test_batch_limits(client):
    r = client.post("/v1/analyze/batch", json={"items": [{"id": i, "text": "hello"} for i in range(5)]})
    assert_error(r, 422, "invalid_request")
    assert "at most 4" in r.json()["error"]["message"]
    assert_error(client.post("/v1/analyze/batch", json={"items": []}), 422, "invalid_request")


def test_unknown_route_and_method(client):
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.get("/v1/analyze"), 405, "method_not_allowed")


def test_not_ready_until_the_lifespan_has_warmed_up(tiny_rewriter, tiny_model_dir):
    app = create_app(Settings(model_path=tiny_model_dir), rewriter=tiny_rewriter)
    cold = TestClient(app)  # no `with`: the lifespan has not run
    assert_error(cold.get("/readyz"), 503, "not_ready")
    assert_error(cold.post("/v1/analyze", json={"text": "hello"}), 503, "not_ready")
    assert cold.get("/livez").status_code == 200


def test_api_keys(tiny_rewriter, tiny_model_dir):
    with make_client(tiny_rewriter, tiny_model_dir, api_keys=["k-one", "k-two"]) as c:
        assert_error(c.post("/v1/analyze", json={"text": "hi"}), 401, "unauthorized")
        assert_error(c.post("/v1/analyze", json={"text": "hi"}, headers={"x-api-key": "nope"}), 401, "unauthorized")
        assert c.post("/v1/analyze", json={"text": "hi"}, headers={"x-api-key": "k-two"}).status_code == 200
        assert c.get("/v1/info", headers={"authorization": "Bearer k-one"}).status_code == 200
        assert c.get("/livez").status_code == 200  # health stays open for orchestrators


def test_rate_limit(tiny_rewriter, tiny_model_dir):
    with make_client(tiny_rewriter, tiny_model_dir, rate_limit="3/minute") as c:
        codes = [c.post("/v1/analyze", json={"text": "hi there"}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert_error(c.post("/v1/analyze", json={"text": "hi"}), 429, "rate_limited")
        assert c.get("/livez").status_code == 200


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost:3000", True),
        ("http://127.0.0.1", True),
        ("chrome-extension://abcdefghijklmnop", True),
        ("moz-extension://1234-5678", True),
        ("https://evil.example", False),
        ("chrome-extension://someoneelse", False),
    ],
)
def test_cors_preflight(tiny_rewriter, tiny_model_dir, origin, allowed):
    regex = (
        r"^(https?://(localhost|127\.0\.0\.1)(:\d+)?|chrome-extension://abcdefghijklmnop|moz-extension://1234-5678)$"
    )
    with make_client(tiny_rewriter, tiny_model_dir, cors_origin_regex=regex) as c:
        r = c.options("/v1/analyze", headers={"origin": origin, "access-control-request-method": "POST",
                                              "access-control-request-headers": "content-type"})  # fmt: skip
        assert (r.headers.get("access-control-allow-origin") == origin) is allowed


def test_default_cors_allows_only_local_origins(client):
    r = client.options(
        "/v1/analyze", headers={"origin": "https://site.example", "access-control-request-method": "POST"}
    )
    assert "access-control-allow-origin" not in r.headers


def test_metrics_count_flags_and_never_hold_text(client):
    marker = "zebra-marker-4417"
    client.post("/v1/analyze", json={"text": f"Sorry if you were upset {marker}, but you started it."})
    body = client.get("/metrics").text
    assert "heartfelt_inference_seconds_bucket" in body and 'heartfelt_flags_total{pattern="blame"}' in body
    assert marker not in body


@pytest.fixture
def json_logging():
    from service.observability import configure_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging(json_lines=True, level=logging.DEBUG)
    yield
    root.handlers[:], _ = saved[0], root.setLevel(saved[1])


def test_message_text_never_reaches_the_logs(client, caplog, capsys, json_logging):
    marker = "private-marker-90210"
    with caplog.at_level(logging.DEBUG):
        client.post("/v1/analyze", json={"text": f"I lied to you about {marker}. I'm sorry."})
        client.post("/v1/analyze", json={"text": f"{marker} " * 400})  # 413
        client.post("/v1/analyze", json={"text": marker, "oops": marker})  # 422
        client.post("/v1/analyze/batch", json={"items": [{"id": 1, "text": marker}, {"id": 2, "text": " "}]})
    captured = capsys.readouterr()
    everything = (
        caplog.text + captured.out + captured.err + json.dumps([r.__dict__ for r in caplog.records], default=str)
    )
    assert "request" in everything  # the access log did run
    assert marker not in everything


def test_rewrite_route(client):
    from service.schemas import RewriteResult

    text = "I'm sorry if you were hurt. See you Sunday."
    r = client.post("/v1/rewrite", json={"text": text})
    assert r.status_code == 200, r.text
    result = RewriteResult.model_validate(r.json())
    for edit in result.edits:
        assert text[edit.start : edit.end] == edit.original
    assert "non_apology" in {edit.pattern for edit in result.edits}
    # what no edit touches is kept as written (whether the tiny model also flags "See you Sunday." or not;
    # the full model doesn't: test_quality.py)
    bounds = [0, *(i for e in result.edits for i in (e.start, e.end)), len(text)]
    for start, end in zip(bounds[::2], bounds[1::2], strict=True):
        assert text[start:end].strip() in result.rewrite
    assert_error(client.post("/v1/rewrite", json={"text": ""}), 422, "invalid_text")


def test_metrics_report_pair_cache_hits_when_a_draft_is_sent_again(tiny_model_dir):
    from service.loader import load_rewriter

    rewriter = load_rewriter(Settings(model_path=tiny_model_dir, pair_cache_size=64))
    with make_client(rewriter, tiny_model_dir) as c:
        first = c.post("/v1/analyze", json={"text": "I lied about Friday. You were ignoring me."}).json()
        again = c.post("/v1/analyze", json={"text": "I lied about Friday. You were ignoring me."}).json()
        body = c.get("/metrics").text
    assert first == again  # answered from the cache, and the same answer
    hit_line = 'heartfelt_pair_cache_lookups_total{result="hit"}'
    hits = next(line for line in body.splitlines() if line.startswith(hit_line))
    assert float(hits.split()[-1]) >= 2  # both units of the second request, at least
    assert "heartfelt_pair_cache_entries" in body and "Friday" not in body
