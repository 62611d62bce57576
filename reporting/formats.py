"""Numbers, durations and times as a reader wants them: one format per kind across the report."""

from __future__ import annotations

from datetime import UTC, datetime

from reporting.timeaxis import DAY, HOUR, MINUTE, SECOND

MB = 1024 * 1024
# Below 10 s a duration keeps one decimal (2.2 s); above it whole seconds read better.
DECIMAL_SECONDS_BELOW = 10 * SECOND


def count(n: float | None) -> str:
    """An integer count with thousands separated (``12,345``); ``-`` when unknown."""
    return "-" if n is None else f"{round(n):,}"


def duration(ms: float | None) -> str:
    """A span in the two largest units that matter: ``850 ms``, ``2.2 s``, ``12 min 5 s``, ``3 h 20 min``."""
    if ms is None:
        return "-"
    if ms < SECOND:
        return f"{round(ms)} ms"
    if ms < DECIMAL_SECONDS_BELOW:
        return f"{number(ms / SECOND)} s"
    units = ((DAY, "d"), (HOUR, "h"), (MINUTE, "min"), (SECOND, "s"))
    whole = round(ms / SECOND) * SECOND
    for i, (size, name) in enumerate(units[:-1]):
        if whole >= size:
            smaller, small_name = units[i + 1]
            big, rest = divmod(whole, size)
            rest //= smaller
            return f"{big} {name} {rest} {small_name}" if rest else f"{big} {name}"
    return f"{whole // SECOND} s"


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 finding``, ``3 findings``: the count formatted, the word agreeing with it."""
    return f"{count(n)} {word if n == 1 else (words or word + 's')}"


def mib(n_bytes: float | None) -> str:
    return "-" if n_bytes is None else f"{n_bytes / MB:,.1f} MiB"


def on_off(flag: bool | None) -> str:
    return "-" if flag is None else ("on" if flag else "off")


def utc(ms: int | None) -> tuple[str, str]:
    """(date, clock) of an epoch-ms instant in UTC; tables show the date dimmed."""
    if not ms:
        return "", "-"
    d = datetime.fromtimestamp(ms / 1000, UTC)
    return d.strftime("%Y-%m-%d"), d.strftime("%H:%M:%S")


def clock_ms(ms: int) -> str:
    """``23:37:11.108``: the precision a chart's tooltip needs for events a second apart."""
    d = datetime.fromtimestamp(ms / 1000, UTC)
    return d.strftime("%H:%M:%S.") + f"{ms % 1000:03d}"


def number(v: float | None, decimals: int = 1) -> str:
    """A measured value: thousands separated, ``decimals`` kept, a trailing ``.0`` dropped."""
    if v is None:
        return "-"
    s = f"{v:,.{decimals}f}"
    return s[: -decimals - 1] if decimals and set(s[-decimals:]) == {"0"} else s
