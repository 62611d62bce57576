"""Policies from evidence: a policy backtested over the stored history with the live rule
engine, per-image baselines learned from clean runs, and a policy suggested from them.

Lives in ``sandguard`` because it wires two components: the engine (``processors``) and
the history (``reporting``)."""

from sandguard.backtest.backtest import backtest
from sandguard.backtest.exceptions import BacktestError, NoHistoryError, SelectionError
from sandguard.backtest.selection import Selection, parse_label

__all__ = ["BacktestError", "NoHistoryError", "Selection", "SelectionError", "backtest", "parse_label"]
