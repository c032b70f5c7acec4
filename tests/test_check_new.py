"""``python -m training.data.check_new``: the checks a new pool file passes before it joins the build."""

from __future__ import annotations

import json
from pathlib import Path

from training.data.check_new import check, main
from training.data.pools import Sentence


def line(text: str, labels: list[str], **extra) -> str:
    return json.dumps({"text": text, "labels": labels, "situation": "work", "register": "careful", **extra})


def test_each_kind_of_problem_is_named_by_its_line(tmp_path: Path) -> None:
    existing = [Sentence("I was exhausted after the double shift.", ("excuse",), "work", "careful", None, False,
                         origin="excuse.jsonl:7")]  # fmt: skip
    new = tmp_path / "new_7.jsonl"
    new.write_text(
        "\n".join([
            line("I was EXHAUSTED after the double shift!", ["excuse"]),  # exact duplicate once normalised
            line("I was so exhausted after that double shift.", ["excuse"]),  # a near-twin
            line("I'm sorry if you were hurt, but you started it.", ["non_apology", "blame"]),  # clauses unlisted
            line("Sorry.", []),  # too short
            line("The printer on the third floor is fixed now.", ["pleasantry"]),  # not a label
            line("The quarterly numbers go to the board on Friday morning.", []),  # fine
        ]) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    problems = check([new], existing)
    by_line = {n: [p for p in problems if p.startswith(f"new_7.jsonl:{n}:")] for n in range(1, 7)}
    assert "exact duplicate of excuse.jsonl:7" in by_line[1][0]
    assert any("near duplicate" in p and "excuse.jsonl:7" in p for p in by_line[2])
    assert "list those as clauses" in by_line[3][0]
    assert "1 words" in by_line[4][0]
    assert "labels must be a list" in by_line[5][0]
    assert by_line[6] == []
    assert len(problems) == sum(len(v) for v in by_line.values())


def test_the_command_passes_a_clean_file_and_fails_a_bad_one(tmp_path: Path, capsys) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(line("The quarterly numbers go to the board on Friday morning.", []) + "\n", encoding="utf-8")
    assert main([str(good), "--no-embeddings"]) == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text(line("Sorry.", []) + "\n", encoding="utf-8")
    assert main([str(bad), "--no-embeddings"]) == 1
    assert "bad.jsonl:1: 1 words" in capsys.readouterr().out
