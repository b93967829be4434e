"""Texts of the Summarization and Translation tabs, in English and Simplified Chinese (identical keys);
merged into :mod:`playground.ui.strings`."""

from __future__ import annotations

EN: dict[str, str] = {
}

ZH: dict[str, str] = {
}
