"""``--since`` values: a span back from now (90m, 24h, 7d, 2w) or an ISO 8601 instant."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from reporting.timeaxis import DAY, HOUR, MINUTE, SECOND

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_MS = {"s": SECOND, "m": MINUTE, "h": HOUR, "d": DAY, "w": 7 * DAY}


def parse_since(text: str, now_ms: int) -> int:
    """Epoch ms of ``text``; raises ValueError saying what is accepted."""
    m = _SPAN.match(text)
    if m:
        return now_ms - int(float(m.group(1)) * _UNIT_MS[m.group(2)])
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since {text!r}: use a span such as 90m, 24h, 7d or an ISO time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)
