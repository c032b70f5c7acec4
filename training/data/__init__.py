"""The Heartfelt corpus: hand-written sentence pools and the composed, split corpus built from them."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
SENTENCES_DIR = DATA_DIR / "sentences"
CORPUS_PATH = DATA_DIR / "corpus.jsonl"
