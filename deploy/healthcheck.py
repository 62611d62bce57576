"""Container health check of every sandguard component (the image's HEALTHCHECK).

Healthy means the component's Prometheus endpoint answers on SANDGUARD_METRICS_PORT with
at least one ``sandguard_`` sample: the process is up and its component was built (the
enforcer and the sink build theirs only once Kafka answered). Exit 0 healthy, 1 not,
with the reason on stderr (``docker inspect`` shows it). Standard library only.
"""

from __future__ import annotations

import os
import sys
import urllib.request

# The health check's own deadline; Docker's --timeout (5 s) is the outer bound.
TIMEOUT_S = 3.0
PREFIX = "sandguard_"


def check(port: int, timeout_s: float = TIMEOUT_S) -> str | None:
    """None when healthy, else why not."""
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            body = response.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"{url}: {exc}"
    if not any(line.startswith(PREFIX) for line in body.splitlines()):
        return f"{url}: no {PREFIX}* metric yet (component not started)"
    return None


def main() -> int:
    raw = os.environ.get("SANDGUARD_METRICS_PORT", "0")
    if not raw.isdigit() or int(raw) == 0:
        print(f"SANDGUARD_METRICS_PORT={raw!r}: metrics are off, nothing to check", file=sys.stderr)
        return 1
    problem = check(int(raw))
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
