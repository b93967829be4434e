"""Texts of the Embeddings view, in English and Simplified Chinese (identical keys); merged into
:mod:`playground.messages`."""

from __future__ import annotations

EN: dict[str, str] = {}

ZH: dict[str, str] = {}
