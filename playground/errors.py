"""Errors that carry a message meant for the person using the app.

The UI turns these into ``gr.Error`` and the API returns their text; anything else is logged
and answered with a generic message, so no stack trace ever reaches the page.
"""

from __future__ import annotations


class PlaygroundError(Exception):
    """A problem the user can act on. ``key`` names the message in :mod:`playground.messages`
    (its one English and one Chinese text), ``params`` fill it in; ``str(error)`` is the English."""

    def __init__(self, key: str, **params: object) -> None:
        from . import messages

        super().__init__(messages.t(key, "en", **params))
        self.key = key
        self.params = params


class InputError(PlaygroundError):
    """The text or an option the user sent cannot be used as is."""


class ModelUnavailable(PlaygroundError):
    """A model in the registry cannot be loaded here (no hub, a package missing, ...)."""


class OutOfMemory(PlaygroundError):
    """The accelerator ran out of memory; the cache was freed and the user may retry."""
