"""Insert column order of every table the sink writes (kept equal to the DDL by a test)."""

from __future__ import annotations

_EVENT = ("event_id", "time", "container_id", "host")

METRICS = (
    *_EVENT,
    "interval_ms", "cpu_usage_ns_total", "cpu_percent", "cpu_periods_total",
    "cpu_throttled_periods_total", "cpu_throttled_ns_total", "memory_usage_bytes",
    "memory_working_set_bytes", "memory_limit_bytes", "memory_failcnt_total",
    "memory_oom_kills_total", "pids_current", "pids_max", "pids_max_events_total", "open_fds",
    "sock_tcp", "sock_tcp_orphan", "sock_tcp_time_wait", "sock_udp", "sock_raw", "sock_tcp6",
    "sock_udp6", "sock_tcp_states", "disk_usage_bytes", "partial", "schema_version",
)  # fmt: skip
LIMITS = (
    *_EVENT,
    "memory_limit_bytes", "memory_swap_limit_bytes", "cpu_quota_us", "cpu_period_us", "pids_max",
    "nofile_soft", "nofile_hard", "schema_version",
)  # fmt: skip
PROCESS_SNAPSHOTS = (*_EVENT, "full", "seq", "count", "listed", "exited", "schema_version")
PROCESSES = (
    *_EVENT,
    "full", "pid", "ns_pid", "ppid", "uid", "comm", "exe", "argv", "cmdline", "argv_truncated",
    "state", "start_time", "position",
)  # fmt: skip
AUDIT = (
    *_EVENT,
    "category", "action", "actor", "allowed", "violation_type", "subject", "reason", "details",
    "schema_version", "source_offset",
)  # fmt: skip
SANDBOXES = (
    *_EVENT,
    "destroyed", "policy_id", "policy_name", "policy_version", "mode", "sandbox_name", "image",
    "labels", "network_policy", "memory_mb", "cpu_percent", "disk_mb", "max_processes",
    "max_open_files", "max_network_connections", "execution_timeout", "enable_monitoring",
    "violation_threshold", "auto_terminate", "policy", "schema_version",
)  # fmt: skip
VIOLATION_EVENTS = (
    *_EVENT,
    "violation_id", "activity", "version", "rule_id", "violation_type", "severity", "severity_id",
    "title", "message", "count", "first_seen", "last_seen", "sample_time", "detected_time",
    "policy_id", "policy_name", "policy_version", "mode", "disposition", "container_name", "image",
    "labels", "process_comm", "process_exe", "process_cmdline", "command", "path", "evidence",
    "schema_version",
)  # fmt: skip
COMMANDS = (
    *_EVENT,
    "command_id", "action", "mode", "violation_ids", "rule_ids", "reason", "policy_id", "limits",
    "throttle_factor", "keep_filesystem", "first_violation_time", "schema_version",
)  # fmt: skip
ACTIONS = (
    *_EVENT,
    "command_id", "action", "result", "reason", "violation_ids", "rule_ids", "command_time",
    "latency_ms", "details", "schema_version",
)  # fmt: skip
DEADLETTERS = (
    "event_id", "time", "component", "source_topic", "partition", "offset", "key", "value", "error",
    "schema_version",
)  # fmt: skip

EXEC_EVENTS = (
    *_EVENT,
    "pid", "ppid", "ns_pid", "uid", "program", "comm", "filename", "exe", "script", "argv",
    "argv_truncated", "cwd", "parent_exe", "parent_comm", "stdio", "parent_stdio", "exe_writable",
    "exe_fs", "blocked", "mode", "mnt_ns", "ktime_ns", "source", "best_effort", "schema_version",
    "pgid", "sid",
)  # fmt: skip
EXIT_EVENTS = (*_EVENT, "pid", "exit_code", "signal", "ktime_ns", "source", "schema_version")
CONNECT_EVENTS = (
    *_EVENT,
    "pid", "comm", "exe", "uid", "phase", "family", "protocol", "daddr", "dport", "saddr", "sport",
    "result", "old_state", "new_state", "ktime_ns", "source", "schema_version", "ns_pid",
)  # fmt: skip

COLUMNS: dict[str, tuple[str, ...]] = {
    "metrics": METRICS,
    "limits": LIMITS,
    "process_snapshots": PROCESS_SNAPSHOTS,
    "processes": PROCESSES,
    "audit": AUDIT,
    "sandboxes": SANDBOXES,
    "violation_events": VIOLATION_EVENTS,
    "commands": COMMANDS,
    "actions": ACTIONS,
    "deadletters": DEADLETTERS,
    "exec_events": EXEC_EVENTS,
    "exit_events": EXIT_EVENTS,
    "connect_events": CONNECT_EVENTS,
}

# Every table that holds data (what a rebuild empties), derived ones included.
DATA_TABLES = (*COLUMNS, "violations", "metrics_1m")
