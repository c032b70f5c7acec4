"""The Heartfelt corpus: hand-written sentence pools and the composed, split corpus built from them."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
SENTENCES_DIR = DATA_DIR / "sentences"
CORPUS_PATH = DATA_DIR / "corpus.jsonl"
# Public and everyday writing not addressed to anyone the writer hurt: the topic gate's extra negatives
# only, never the classifier's training data (see public/README.md).
PUBLIC_DIR = DATA_DIR / "public"
