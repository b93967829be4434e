"""Sharing one app with a class: which long jobs to admit. Pure Python (the UI wires it to
gradio): every explanation is admitted before it joins the queue and released when it ends, so
one student cannot fill the queue with explanations and the whole class gets a clear "busy"
message, in its language, long before gradio's queue would be full."""

from __future__ import annotations

import threading
import time

from .config import LIMITS
from .errors import InputError


class Admission:
    """Long jobs waiting or running, per session. ``admit`` raises an InputError
    (``too_many_jobs`` / ``app_busy``) instead of admitting past the limits; ``release`` ends a
    job; ``forget`` drops a session (its browser closed). A job never released (its event was
    dropped from the queue) stops counting after ``ttl`` seconds."""

    def __init__(self, per_session: int = LIMITS.long_jobs_per_session, waiting: int = LIMITS.long_jobs_waiting,
                 ttl: float = LIMITS.long_job_ttl_s) -> None:
        self.per_session, self.waiting, self.ttl = per_session, waiting, ttl
        self._jobs: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        for session in list(self._jobs):
            self._jobs[session] = [t for t in self._jobs[session] if now - t < self.ttl]
            if not self._jobs[session]:
                del self._jobs[session]

    def admit(self, session: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            mine = self._jobs.get(session, [])
            if len(mine) >= self.per_session:
                raise InputError("too_many_jobs", count=len(mine))
            total = sum(len(v) for v in self._jobs.values())
            if total >= self.waiting:
                raise InputError("app_busy", count=total)
            self._jobs.setdefault(session, []).append(now)

    def release(self, session: str) -> None:
        with self._lock:
            mine = self._jobs.get(session)
            if mine:
                mine.pop(0)
                if not mine:
                    del self._jobs[session]

    def forget(self, session: str) -> None:
        with self._lock:
            self._jobs.pop(session, None)

    def count(self, session: str | None = None) -> int:
        """Jobs admitted and not yet released (of one session, or of all)."""
        with self._lock:
            self._expire(time.monotonic())
            if session is not None:
                return len(self._jobs.get(session, []))
            return sum(len(v) for v in self._jobs.values())


__all__ = ["Admission"]
