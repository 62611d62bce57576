"""Security reports from the history: one sandbox (``ReportSource``) and the whole fleet.

Every SEED.md field of the original report is kept with its name; the rest is added.
Times are epoch milliseconds (UTC) except ``report_timestamp`` (ISO 8601, as the original).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson

from reporting import queries as q
from reporting.exceptions import UnknownSandboxError
from reporting.formats import MB
from reporting.timeaxis import DAY, MINUTE, align, domain, nice_step, series_step
from schemas import Store, now_ms
from schemas.policy import workspace_quota_mb

RECENT_METRICS = 10  # samples in ``recent_metrics``, newest first (as the original kept a tail)
FINDINGS_LIMIT = 100
TIMELINE_LIMIT = 500
TOP_LIMIT = 10
# The fleet's findings-by-type series has at most 48 buckets of a round length over the
# span the findings cover: 24 h -> 30 min buckets, a 40 s demo -> 1 s buckets.
SERIES_BUCKETS = 48


class HistoryReports:
    """``schemas.ReportSource`` over a ``schemas.Store``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def security_report(self, container_id: str) -> dict[str, Any]:
        return self.sandbox_report(container_id)

    def sandbox_report(
        self,
        container_id: str,
        *,
        since_ms: int | None = None,
        now: int | None = None,
        require_known: bool = False,
    ) -> dict[str, Any]:
        """The report of one sandbox; ``require_known`` raises UnknownSandboxError for a
        sandbox the history never saw (otherwise its report is empty, with ``known`` false)."""
        now = now if now is not None else now_ms()
        since = since_ms if since_ms is not None else now - DAY
        window = {"cid": container_id, "since": since, "until": now}
        groups = self._dicts(q.FINDINGS_GROUPS, {"cid": container_id, "recent": now - DAY})
        sandbox = self._one(q.SANDBOX, {"cid": container_id})
        if sandbox is None and require_known and not groups:
            raise UnknownSandboxError(container_id)
        policy = orjson.loads(sandbox["policy"]) if sandbox and sandbox["policy"] else None
        extent = self._extent(window)
        series, resolution = self._series(window, extent)
        recent = self._recent_metrics(window)
        return {
            "report_timestamp": datetime.fromtimestamp(now / 1000, UTC).isoformat(),
            "container_id": container_id,
            "total_violations": sum(int(g["n"]) for g in groups),
            "recent_violations_24h": sum(int(g["recent"]) for g in groups),
            "violation_types": _counts(groups, "violation_type"),
            "monitored_containers": int(self._store.query(q.MONITORED)[0][0]),
            "policy_summary": _policy_summary(policy),
            "recent_metrics": recent,
            # Added by sandguard.
            "window": {"since": since, "until": now},
            "known": sandbox is not None,
            "sandbox": _sandbox_info(sandbox),
            "total_occurrences": sum(int(g["occurrences"]) for g in groups),
            "violations_by_rule": _counts(groups, "rule_id"),
            "violations_by_severity": _counts(groups, "severity"),
            "violations": self._dicts(q.FINDINGS_LIST, {"cid": container_id, "limit": FINDINGS_LIMIT}),
            "timeline": self._dicts(q.TIMELINE, {**window, "limit": TIMELINE_LIMIT}),
            "top_processes": self._dicts(q.TOP_PROCESSES, {**window, "limit": TOP_LIMIT}),
            "actions": self._dicts(q.ACTIONS, window),
            "policy": policy,
            "activity": {"first": extent[0], "last": extent[1]} if extent else None,
            "series": series,
            "series_resolution": resolution,
            "disk": disk_summary(policy, recent),
            "kernel_layer": self._dicts(q.KERNEL_MODE, {}),
            "kernel_events": {k: int(v) for k, v in (self._one(q.KERNEL_COUNTS, window) or {}).items()},
        }

    def fleet_report(self, *, since_ms: int | None = None, now: int | None = None) -> dict[str, Any]:
        now = now if now is not None else now_ms()
        since = since_ms if since_ms is not None else now - DAY
        window = {"since": since, "until": now}
        latency = self._one(q.LATENCY, window) or {}
        groups = self._dicts(q.FLEET_GROUPS, window)
        return {
            "report_timestamp": datetime.fromtimestamp(now / 1000, UTC).isoformat(),
            "window": window,
            "sandboxes": self._one(q.FLEET_SANDBOXES, {}),
            "monitored_containers": int(self._store.query(q.MONITORED)[0][0]),
            "violations_by_type": _counts(groups, "violation_type"),
            "violations_by_rule": _counts(groups, "rule_id"),
            "violations_by_severity": _counts(groups, "severity"),
            "top_sandboxes": self._dicts(q.TOP_SANDBOXES, {**window, "limit": TOP_LIMIT}),
            "top_images": self._dicts(q.TOP_IMAGES, {**window, "limit": TOP_LIMIT}),
            "violations_over_time": self._over_time(window),
            "actions": self._dicts(q.FLEET_ACTIONS, window),
            "enforcement_latency_ms": {k: _num(v) for k, v in latency.items()},
            "kernel_layer": self._dicts(q.KERNEL_MODE, {}),
        }

    # --- helpers --------------------------------------------------------------------

    def _extent(self, window: dict[str, Any]) -> tuple[int, int] | None:
        """First and last activity (sample, finding, action) of the sandbox in the window."""
        row = self._one(q.EXTENT, window) or {}
        return (int(row["first"]), int(row["last"])) if row.get("n") else None

    def _series(
        self, window: dict[str, Any], extent: tuple[int, int] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Resource use over the sandbox's activity: raw samples for a short span, else the rollup."""
        if extent is None:
            return [], {"source": "rollup", "step_ms": MINUTE}
        first, last = max(extent[0], window["since"]), min(extent[1], window["until"])
        source, step = series_step(last - first)
        bounds = {**window, "since": first, "until": last}
        if source == "raw":
            rows = raw_series(self._dicts(q.SERIES_RAW, {**bounds, "step": step}))
        else:
            rows = self._dicts(q.SERIES, {**bounds, "step_min": step // MINUTE})
        return rows, {"source": source, "step_ms": step}

    def _over_time(self, window: dict[str, Any]) -> dict[str, Any]:
        """Findings by type per bucket, over the span the findings cover (bucket-aligned)."""
        found = self._one(q.FINDINGS_EXTENT, window) or {}
        extent = (int(found["first"]), int(found["last"])) if found.get("n") else None
        t0, t1 = domain(extent, window["since"], window["until"])
        bucket = nice_step(t1 - t0, SERIES_BUCKETS)
        t0, t1 = align(t0, t1, bucket)
        return {
            "bucket_ms": bucket,
            "bucket_minutes": round(bucket / MINUTE, 3),
            "since": t0,
            "until": t1,
            "points": self._dicts(q.BY_TYPE_OVER_TIME, {**window, "bucket": bucket}),
        }

    def _dicts(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: _plain(v) for k, v in row.items()} for row in self._store.query_dicts(sql, params)]

    def _one(self, sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
        rows = self._dicts(sql, params)
        return rows[0] if rows else None

    def _recent_metrics(self, window: dict[str, Any]) -> list[dict[str, Any]]:
        rows = self._dicts(q.RECENT_METRICS, {**window, "limit": RECENT_METRICS})
        return [_security_metrics(window["cid"], r) for r in rows]


def _counts(groups: list[dict[str, Any]], column: str) -> dict[str, int]:
    """Findings per value of ``column``, most first (ties by value), from the grouped counts."""
    counts: Counter[str] = Counter()
    for g in groups:
        counts[str(g[column])] += int(g["n"])
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def raw_series(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Raw-sample buckets in the rollup's shape: throttled periods become per-point deltas
    (a counter that went back, a restarted container, counts from its new start)."""
    out, previous = [], None
    for r in rows:
        point = dict(r)
        low, high = point.pop("throttled_min"), point.pop("throttled_max")
        base = low if previous is None or previous > low else previous
        point["cpu_percent"] = point.pop("cpu_percent_avg")
        out.append({**point, "throttled_periods": high - base})
        previous = high
    return out


def _plain(v: Any) -> Any:
    """Engine values -> JSON-friendly ones (datetimes as epoch ms; tuples as lists)."""
    if isinstance(v, datetime):
        return int(v.replace(tzinfo=v.tzinfo or UTC).timestamp() * 1000)
    if isinstance(v, tuple):
        return list(v)
    return v


def _num(v: Any) -> float | int | None:
    if v is None:
        return None
    f = float(v)
    return int(f) if f.is_integer() else round(f, 3)


def _security_metrics(cid: str, r: dict[str, Any]) -> dict[str, Any]:
    """A metric sample in the original's SecurityMetrics names and units."""
    return {
        "container_id": cid,
        "timestamp": datetime.fromtimestamp(r["time_ms"] / 1000, UTC).isoformat(),
        "time_ms": r["time_ms"],
        "cpu_usage_percent": round(float(r["cpu_percent"] or 0.0), 3),
        "memory_usage_mb": round(r["memory_usage_bytes"] / MB, 3),
        "disk_usage_mb": round((r["disk_usage_bytes"] or 0) / MB, 3),
        "network_connections": int(r["connections"]),
        "process_count": int(r["pids_current"]),
        "open_files": int(r["open_fds"]),
    }


def disk_summary(policy: dict[str, Any] | None, recent: list[dict[str, Any]]) -> dict[str, Any]:
    """The workspace's use (newest sample) beside its quota (/work and /tmp of disk_mb)."""
    limits = (policy or {}).get("resource_limits") or {}
    quota = workspace_quota_mb(int(limits["disk_mb"])) if "disk_mb" in limits else None
    used = recent[0]["disk_usage_mb"] if recent else None
    percent = round(used / quota * 100, 1) if used is not None and quota else None
    return {"usage_mb": used, "quota_mb": quota, "used_percent": percent}


def _policy_summary(policy: dict[str, Any] | None) -> dict[str, Any]:
    if policy is None:
        return {"network_policy": None, "resource_limits": None, "monitoring_enabled": None}
    return {
        "network_policy": policy.get("network_policy"),
        "resource_limits": policy.get("resource_limits"),
        "monitoring_enabled": policy.get("enable_monitoring"),
    }


def _sandbox_info(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    keep = ("image", "sandbox_name", "host", "policy_id", "policy_name", "first_seen", "destroyed_at")
    return {k: row[k] for k in keep}
