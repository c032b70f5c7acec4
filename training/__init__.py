"""Corpus, training, evaluation and export for Heartfelt's classifier."""
