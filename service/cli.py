"""The ``heartfelt`` command line: analyze drafts, train and evaluate the model, serve the API."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.text import Text

from service.analyzer import Analyzer, InvalidTextError, check_text
from service.classifier import ModelNotFoundError
from service.schemas import Analysis, RewriteResult

if TYPE_CHECKING:
    from service.rewriter import Rewriter

app = typer.Typer(help="Heartfelt: see how an apology is likely to land before you send it.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

JSONL_BATCH = 32
_CATEGORY_STYLE = {"vague": "bold yellow", "defensive": "bold red", "dismissive": "bold magenta"}

ModelOption = Annotated[Path | None, typer.Option("--model", help="Model directory (default: HEARTFELT_MODEL_PATH).")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _analyzer(model: Path | None) -> Analyzer:
    from service.loader import load_analyzer
    from service.settings import Settings

    settings = Settings(model_path=model) if model else Settings()
    try:
        return load_analyzer(settings)
    except ModelNotFoundError as exc:
        raise _fail(str(exc), 1) from None


def _rewriter(model: Path | None) -> Rewriter:
    from service.loader import load_rewriter
    from service.settings import Settings

    settings = Settings(model_path=model) if model else Settings()
    try:
        return load_rewriter(settings)
    except ModelNotFoundError as exc:
        raise _fail(str(exc), 1) from None


def _print_rewrite(result: RewriteResult) -> None:
    shown = Text(result.rewrite)
    for hole in result.placeholders:
        shown.stylize("bold cyan", hole.start, hole.end)
    out.print(shown)
    if result.edits:
        out.print("\n[bold]changed[/]")
    for edit in result.edits:
        out.print(f"  ({edit.strategy}, was {edit.pattern}) “{edit.original.strip()}” → “{edit.replacement.strip()}”",
                  highlight=False)  # fmt: skip
    if result.placeholders:
        out.print("\n[bold]fill in[/] " + ", ".join(f"[{h.hint}]" for h in result.placeholders), highlight=False)
    if result.additions:
        out.print("\n[bold]you could add[/]")
    for add in result.additions:
        out.print(f"  ({add.strength}) {add.text}", highlight=False)
    for flag in result.analysis.flags:
        out.print(f"[bold red]still reads as {flag.pattern}[/]: “{flag.text}”", highlight=False)
    out.print(f"\n[bold]score {result.analysis.score}/100[/] — {result.analysis.summary}", highlight=False)


def _print_human(text: str, analysis: Analysis) -> None:
    shown = Text(text)
    for flag in analysis.flags:
        shown.stylize(f"{_CATEGORY_STYLE[flag.category]} underline", flag.start, flag.end)
    for s in analysis.strengths:
        shown.stylize("green", s.start, s.end)
    out.print(shown)
    out.print()
    for flag in analysis.flags:
        out.print(f"[{_CATEGORY_STYLE[flag.category]}]{flag.pattern}[/] ({flag.category}, {flag.score:.2f}) "
                  f"[dim]{flag.start}-{flag.end}[/] “{flag.text}”", highlight=False)  # fmt: skip
        out.print(f"  why: {flag.explanation}", highlight=False)
        out.print(f"  they may feel: {flag.impact}", highlight=False)
        for s in flag.suggestions:
            out.print(f"  try ({s.strategy}): {s.text}", highlight=False)
    for s in analysis.strengths:
        out.print(f"[green]{s.strength}[/] ({s.score:.2f}) “{s.text}” — they may feel {s.impact}", highlight=False)
    out.print(f"\n[bold]score {analysis.score}/100[/] — {analysis.summary}", highlight=False)


def _read_text(text: str | None) -> str:
    if text is None or text == "-":
        if sys.stdin.isatty():
            raise _fail("give the text as an argument, or pipe it on standard input")
        return sys.stdin.read()
    return text


def _jsonl_items(max_length: int):
    """Yield (line_number, id, text, error) for each non-blank stdin line."""
    for number, raw in enumerate(sys.stdin, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield number, None, None, f"not valid JSON ({exc.msg} at column {exc.colno})"
            continue
        if not isinstance(obj, dict):
            yield number, None, None, 'each line must be a JSON object like {"id": 1, "text": "..."}'
            continue
        try:
            yield number, obj.get("id"), check_text(obj.get("text"), max_length), None
        except InvalidTextError as exc:
            yield number, obj.get("id"), None, str(exc)


def _run_jsonl(max_length: int, process: Callable[[list[str]], Sequence[BaseModel]]) -> int:
    """Answer {id, text} JSON lines in order, a batch at a time; a bad line gets an error object, not a crash."""
    failures = 0
    pending: list[tuple[Any, str]] = []

    def flush() -> None:
        if pending:
            for (item_id, _), result in zip(pending, process([t for _, t in pending]), strict=True):
                print(json.dumps({"id": item_id, **result.model_dump()}, ensure_ascii=False), flush=False)
        pending.clear()
        sys.stdout.flush()

    for number, item_id, text, error in _jsonl_items(max_length):
        if error is not None:
            flush()  # keep output in input order
            failures += 1
            err.print(f"[bold red]error:[/] line {number}: {error}", highlight=False)
            print(json.dumps({"id": item_id, "error": {"type": "invalid_input", "message": error, "line": number}}))
            continue
        pending.append((item_id, text))
        if len(pending) >= JSONL_BATCH:
            flush()
    flush()
    return 1 if failures else 0


@app.command()
def analyze(
    text: Annotated[str | None, typer.Argument(help="The message to check ('-' or nothing: read stdin).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the analysis as one JSON object.")] = False,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="Read {id, text} JSON lines on stdin; write one result per line.")
    ] = False,
    model: ModelOption = None,
) -> None:
    """Show where a draft sounds vague, defensive or dismissive, and what it already does well."""
    if jsonl:
        analyzer = _analyzer(model)
        raise typer.Exit(_run_jsonl(analyzer.max_length, analyzer.analyze_many))
    message = _read_text(text)
    analyzer = _analyzer(model)
    try:
        analysis = analyzer.analyze(message)
    except InvalidTextError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        print(analysis.model_dump_json())
    else:
        _print_human(message, analysis)


@app.command()
def rewrite(
    text: Annotated[str | None, typer.Argument(help="The message to revise ('-' or nothing: read stdin).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="Read {id, text} JSON lines on stdin; write one result per line.")
    ] = False,
    model: ModelOption = None,
) -> None:
    """Suggest a revised draft: flagged phrases rewritten and verified, placeholders where a fact is missing."""
    if jsonl:
        rewriter = _rewriter(model)
        raise typer.Exit(_run_jsonl(rewriter.analyzer.max_length, rewriter.rewrite_many))
    message = _read_text(text)
    rewriter = _rewriter(model)
    try:
        result = rewriter.rewrite(message)
    except InvalidTextError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        print(result.model_dump_json())
    else:
        _print_rewrite(result)


@app.command()
def train(
    output: Annotated[Path | None, typer.Option(help="Where to write the model.")] = None,
    base_model: Annotated[
        str | None, typer.Option("--base-model", help="Checkpoint to fine-tune (path or hub id).")
    ] = None,
    max_steps: Annotated[int | None, typer.Option(help="Optimizer steps (default: the recipe's step budget).")] = None,
    epochs: Annotated[float | None, typer.Option(help="Train this many passes instead of a step budget.")] = None,
    max_train_units: Annotated[int | None, typer.Option(help="Subsample the train split (quick builds).")] = None,
) -> None:
    """Fine-tune the classifier on the corpus and write the model, thresholds and model card."""
    from training.train import TrainConfig
    from training.train import train as run_training

    config = TrainConfig()
    if output:
        config.output_dir = output
    if base_model:
        config.base_model = base_model
    if max_steps and epochs:
        raise typer.BadParameter("give --max-steps or --epochs, not both")
    if max_steps:
        config.max_steps = max_steps
    if epochs:
        config.epochs, config.max_steps = epochs, None
    config.max_train_units = max_train_units
    report = run_training(config)
    test = report["test"]
    out.print(f"model {report['model']['version']} written to {config.output_dir}")
    flagged = test["clean_message_flag_rate"]
    out.print(f"test macro-F1 (flags) {test['macro_f1_flags']:.3f}, clean messages flagged {flagged:.1%}")


@app.command()
def evaluate(model: ModelOption = None) -> None:
    """Measure the model on the corpus's test split and on real conflict-free comments."""
    from training.evaluate import main

    raise typer.Exit(main(["--model", str(model)] if model else []))


@app.command()
def export(model: ModelOption = None) -> None:
    """Export the trained model to graph-optimized int8 ONNX (the fast serving backend)."""
    from training.export import main

    raise typer.Exit(main(["--model", str(model)] if model else []))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default HEARTFELT_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default HEARTFELT_PORT).")] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    from service.settings import get_settings

    settings = get_settings()
    uvicorn.run(
        "service.api:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=settings.workers,
        timeout_keep_alive=settings.keep_alive_s,
        log_config=None,  # service.observability configures logging
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
