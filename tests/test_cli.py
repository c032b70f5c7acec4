"""The real `heartfelt` console script, run as a subprocess against a real (tiny) model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.schemas import Analysis

HEARTFELT = str(Path(sys.executable).with_name("heartfelt"))


def run(args: list[str], model: Path, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HEARTFELT_MODEL_PATH": str(model), "NO_COLOR": "1", "COLUMNS": "200", **env}
    return subprocess.run(
        [HEARTFELT, *args], input=stdin, capture_output=True, text=True, env=environment, timeout=120, check=False
    )


def test_analyze_json_matches_the_contract(tiny_model_dir):
    text = "I'm sorry if you were hurt, but you're overreacting. 💔 I'll call you tomorrow."
    result = run(["analyze", "--json", text], tiny_model_dir)
    assert result.returncode == 0, result.stderr
    analysis = Analysis.model_validate_json(result.stdout)
    for span in [*analysis.flags, *analysis.strengths]:
        assert text[span.start : span.end] == span.text
    assert 0 <= analysis.score <= 100 and analysis.summary
    assert analysis.model.name == "heartfelt-minilm"


def test_analyze_human_output_shows_the_text_and_a_score(tiny_model_dir):
    result = run(["analyze", "Thanks for dinner last night, it was lovely."], tiny_model_dir)
    assert result.returncode == 0, result.stderr
    assert "Thanks for dinner last night" in result.stdout
    assert "score" in result.stdout


def test_analyze_reads_stdin(tiny_model_dir):
    result = run(["analyze", "--json"], tiny_model_dir, stdin="See you at six.")
    assert result.returncode == 0, result.stderr
    Analysis.model_validate_json(result.stdout)


@pytest.mark.parametrize(
    ("text", "message"),
    [("   \n ", "empty"), ("x" * 5001, "limit is 5000")],
)
def test_bad_text_gives_a_clear_error_and_no_traceback(tiny_model_dir, text, message):
    result = run(["analyze", text], tiny_model_dir)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_length_limit_is_a_setting(tiny_model_dir):
    result = run(["analyze", "This one is fine."], tiny_model_dir, HEARTFELT_MAX_TEXT_LENGTH="5")
    assert result.returncode == 2 and "limit is 5" in result.stderr


def test_jsonl_answers_every_good_line_in_order_and_names_bad_lines(tiny_model_dir):
    lines = [
        json.dumps({"id": "a", "text": "Sorry for everything."}),
        "{not json",
        json.dumps({"id": 7, "text": ""}),
        json.dumps({"id": "b", "text": 42}),
        "",
        json.dumps({"id": "c", "text": "You made me do it. I'll fix the fence on Saturday."}),
    ]
    result = run(["analyze", "--jsonl"], tiny_model_dir, stdin="\n".join(lines) + "\n")
    assert result.returncode == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", None, 7, "b", "c"]
    Analysis.model_validate({k: v for k, v in out[0].items() if k != "id"})
    Analysis.model_validate({k: v for k, v in out[4].items() if k != "id"})
    assert [o["error"]["line"] for o in out[1:4]] == [2, 3, 4]
    for number in (2, 3, 4):
        assert f"line {number}:" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_model_is_a_clear_error(tmp_path):
    result = run(["analyze", "hello there"], tmp_path / "nowhere")
    assert result.returncode == 1
    assert "make model" in result.stderr and "Traceback" not in result.stderr


def test_private_text_is_not_echoed_in_errors(tiny_model_dir):
    secret = "my-secret-marker-7781 " * 300
    result = run(["analyze", secret], tiny_model_dir)
    assert result.returncode == 2 and "my-secret-marker-7781" not in result.stderr
