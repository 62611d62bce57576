"""Errors of the backtest and the suggestion; each says what is wrong and with which input.

BacktestError
├── SelectionError       a window or filter that cannot select anything (field, reason)
└── NoHistoryError       the selection has no stored history in its window
"""

from __future__ import annotations


class BacktestError(Exception):
    """Root of the errors of ``sandguard.backtest``."""


class SelectionError(BacktestError, ValueError):
    """Raised for a bad window or filter: ``field`` names the option, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NoHistoryError(BacktestError):
    """Raised when nothing was stored for the selection in its window: a backtest over no
    history is not a backtest with 0 findings."""

    def __init__(self, what: str, since: int, until: int) -> None:
        super().__init__(f"no history for {what} between {since} and {until} (epoch ms)")
        self.what = what
        self.since = since
        self.until = until
