"""Errors that carry a message meant for the person using the app.

The UI turns these into ``gr.Error`` and the API returns their text; anything else is logged
and answered with a generic message, so no stack trace ever reaches the page.
"""

from __future__ import annotations


class PlaygroundError(Exception):
    """A problem the user can act on. ``key`` names the i18n message, ``params`` fill it in."""

    def __init__(self, key: str, message: str, **params: object) -> None:
        super().__init__(message.format(**params) if params else message)
        self.key = key
        self.params = params


class InputError(PlaygroundError):
    """The text or an option the user sent cannot be used as is."""


class ModelUnavailable(PlaygroundError):
    """A model in the registry cannot be loaded here (no hub, a package missing, ...)."""


class OutOfMemory(PlaygroundError):
    """The accelerator ran out of memory; the cache was freed and the user may retry."""
