"""Scrapes each component's Prometheus endpoint and checks it parses as Prometheus text.

Usage: ``python scrape_check.py http://collector:9464/metrics ...``. Prints one JSON line,
``{"targets": {url: {"ok": bool, "families": n, "sandguard_families": n, "error": str}}}``,
and exits 1 when any target fails. Needs prometheus_client (in the sandguard image).
"""

from __future__ import annotations

import json
import sys
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

TIMEOUT_S = 5.0


def scrape(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 (URLs from argv)
            text = response.read().decode("utf-8")
        names = [family.name for family in text_string_to_metric_families(text)]
    except (OSError, ValueError) as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    own = sum(1 for n in names if n.startswith("sandguard_"))
    return {"ok": own > 0, "families": len(names), "sandguard_families": own}


def main(urls: list[str]) -> int:
    results = {url: scrape(url) for url in urls}
    print(json.dumps({"targets": results}, sort_keys=True))
    return 0 if results and all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
