"""The app's limits: input sizes, batch sizes, queue and concurrency, jobs per user. One frozen
instance, :data:`LIMITS`, re-exported by :mod:`playground.config`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Input limits, enforced on the server (the page sends a long paste whole; its tab keeps what
    fits and says so: ui.common.fit_input)."""

    max_chars: int = 2000
    max_tokens: int = 256  # longer inputs are truncated for the model and said so
    max_attention_tokens: int = 128  # attention maps grow as layers x heads x n^2
    batch_size: int = 64  # rows per forward pass in the batched scorers
    # A class of 40 at once: gradio's queue holds every waiting event (a few per student); it is
    # a backstop, since the app turns long jobs away first, with a translated message.
    queue_size: int = 512
    # Jobs running at once per concurrency group (playground.ui.common): sentiment predictions
    # (that many users' texts are answered by one batched forward: playground.batching);
    # attention views and other one-pass work; generations (summaries, translations, generative
    # answers); explanations.
    predict_concurrency: int = 16
    predict_batch: int = 16  # texts per batched prediction forward
    quick_concurrency: int = 2
    generate_concurrency: int = 1
    # Short generations (the /generate and /qa endpoints, the QA tab's answer): that many at once,
    # since concurrent greedy ones on one model share one batched generate (playground.
    # batched_generate); summaries and translations stay in the generate group, so they never
    # hold these slots.
    answer_concurrency: int = 8
    generate_batch: int = 8  # generations per batched generate
    # The Generation tab's streams: that many at once, since concurrent streams on one model are
    # decoded together (playground.batched_stream, at most ROW_STEPS rows x tokens a run).
    stream_concurrency: int = 8
    explain_concurrency: int = 1
    long_jobs_per_session: int = 2  # explanations one browser session may have waiting or running
    long_jobs_waiting: int = 120  # explanations the whole app keeps waiting before it says "busy"
    long_job_ttl_s: float = 1800.0  # an admitted job never seen to finish stops counting after this


LIMITS = Limits()


__all__ = ["LIMITS", "Limits"]
