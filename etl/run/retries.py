"""Airflow retry delays counted per try of the current run, capped.

Airflow's `retry_exponential_backoff` grows with the task instance's try
number, which keeps counting across clears: a day cleared after three failed
tries waited 8x the first delay before its first retry. A clear sets
`max_tries = try_number + retries`, so the try of the current run is
`try_number - (max_tries - retries)`; the delay doubles from the first delay
per try of this run, up to a cap. Imported by the DAG files' defaults only
(it needs Airflow).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import RetryDecision, RetryPolicy


def run_attempt(try_number: int, max_tries: int, retries: int) -> int:
    """Which try of the current run `try_number` is (1 = its first), whatever the clears before."""
    return max(1, try_number - (max_tries - retries))


def retry_delay(attempt: int, first: float, cap: float) -> float:
    """Seconds to wait after failed try `attempt` of a run: first, 2 x first, 4 x first, ... at most cap."""
    return min(first * 2.0 ** min(attempt - 1, 64), cap)


class RunRetryPolicy(RetryPolicy):
    """Retries what reaches it (storage and transient warehouse errors: wrong data or
    settings fail at once with AirflowFailException, which Airflow never retries) after
    `retry_delay` of the current run's try."""

    def __init__(self, first: float, cap: float) -> None:
        self.first = first
        self.cap = cap

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int,
                 context=None) -> RetryDecision:  # noqa: ANN001
        ti = (context or {}).get("ti")
        retries = getattr(getattr(ti, "task", None), "retries", None)
        attempt = run_attempt(try_number, max_tries, retries) if isinstance(retries, int) else 1
        if try_number > max_tries:  # Airflow fails this try for good: say so, not "retry in"
            return RetryDecision.fail(reason=f"try {attempt} of this run failed: no retry left")
        delay = retry_delay(attempt, self.first, self.cap)
        return RetryDecision.retry(timedelta(seconds=delay),
                                   reason=f"try {attempt} of this run failed: retry in {delay:g}s")
