"""Heartfelt: an emotion-aware reflection assistant for apology messages."""

__version__ = "0.1.0"
