"""The SQL of the reports, in one place. Parameters are bound by the engine ({name:Type}).

Raw tables are read with FINAL (duplicates removed before merges); ``violations`` holds
one row per finding (its latest state), ``violation_events`` every create/update/close.
"""

from __future__ import annotations

SANDBOX = """
SELECT container_id, toUnixTimestamp64Milli(first_seen) AS first_seen, is_destroyed,
       if(is_destroyed, toUnixTimestamp64Milli(destroyed_at), NULL) AS destroyed_at,
       image, sandbox_name, host, policy_id, policy_name, network_policy, enable_monitoring, policy
FROM sandbox_state WHERE container_id = {cid:String}
"""

MONITORED = "SELECT count() FROM sandbox_state WHERE NOT is_destroyed AND enable_monitoring"

# Findings counted per type, rule and severity in one read (the report sums them up).
FINDINGS_GROUPS = """
SELECT violation_type, rule_id, severity, count() AS n, sum(count) AS occurrences,
       countIf(last_seen >= fromUnixTimestamp64Milli({recent:Int64})) AS recent
FROM violations FINAL WHERE container_id = {cid:String}
GROUP BY violation_type, rule_id, severity
"""

FINDINGS_LIST = """
SELECT violation_id, rule_id, violation_type, severity, title, message, count, disposition,
       toUnixTimestamp64Milli(first_seen) AS first_seen, toUnixTimestamp64Milli(last_seen) AS last_seen,
       process_comm, process_cmdline, command, path
FROM violations FINAL WHERE container_id = {cid:String}
ORDER BY last_seen DESC LIMIT {limit:UInt32}
"""

RECENT_METRICS = """
SELECT toUnixTimestamp64Milli(time) AS time_ms, cpu_percent, memory_usage_bytes, disk_usage_bytes,
       connections, pids_current, open_fds
FROM metrics FINAL WHERE container_id = {cid:String}
      AND time >= fromUnixTimestamp64Milli({since:Int64})
      AND time <= fromUnixTimestamp64Milli({until:Int64})
ORDER BY time_ms DESC LIMIT {limit:UInt32}
"""

# The time span a sandbox shows activity in the window: samples (from the rollup's first
# and last sample times), findings and actions. Empty parts are left out (HAVING), so a
# sandbox with no activity gives n = 0.
EXTENT = """
SELECT min(lo) AS first, max(hi) AS last, sum(n) AS n FROM (
    SELECT toUnixTimestamp64Milli(min(first_time)) AS lo, toUnixTimestamp64Milli(max(last_time)) AS hi,
           count() AS n
    FROM metrics_1m WHERE container_id = {cid:String}
      AND minute >= toStartOfMinute(fromUnixTimestamp64Milli({since:Int64}))
      AND minute <= fromUnixTimestamp64Milli({until:Int64})
    HAVING n > 0
    UNION ALL
    SELECT toUnixTimestamp64Milli(min(first_seen)), toUnixTimestamp64Milli(max(last_seen)), count() AS n
    FROM violations FINAL WHERE container_id = {cid:String}
      AND last_seen >= fromUnixTimestamp64Milli({since:Int64})
      AND first_seen <= fromUnixTimestamp64Milli({until:Int64})
    HAVING n > 0
    UNION ALL
    SELECT toUnixTimestamp64Milli(min(time)), toUnixTimestamp64Milli(max(time)), count() AS n
    FROM actions FINAL WHERE container_id = {cid:String}
      AND time >= fromUnixTimestamp64Milli({since:Int64})
      AND time <= fromUnixTimestamp64Milli({until:Int64})
    HAVING n > 0
)
"""

# Resource use from the per-minute rollup, in buckets of {step_min} minutes (1 for a day):
# CPU averaged, the rest at their peak; throttled periods summed.
SERIES = """
SELECT toUnixTimestamp(toStartOfInterval(minute, toIntervalMinute({step_min:UInt32}))) * 1000 AS t,
       round(avg(cpu_percent_avg), 2) AS cpu_percent, max(memory_peak_bytes) AS memory_peak_bytes,
       argMax(memory_limit_bytes, minute) AS memory_limit_bytes, max(processes_peak) AS processes_peak,
       argMax(processes_limit, minute) AS processes_limit, max(connections_peak) AS connections_peak,
       max(open_fds_peak) AS open_fds_peak, sum(throttled_periods) AS throttled_periods,
       max(pids_max_events_total) AS pids_max_events_total, max(oom_kills_total) AS oom_kills_total
FROM metrics_1m_view
WHERE container_id = {cid:String}
  AND minute >= toStartOfMinute(fromUnixTimestamp64Milli({since:Int64}))
  AND minute <= fromUnixTimestamp64Milli({until:Int64})
GROUP BY t ORDER BY t
"""

# Resource use from the raw samples (a short span), in buckets of {step} ms: a bucket holds
# one 1 Hz sample, whose own time is the point's; denser sampling is averaged (CPU) or
# peaked. The throttled counter's bounds give the per-point deltas (reports.py).
SERIES_RAW = """
SELECT min(toUnixTimestamp64Milli(time)) AS t, round(avg(cpu_percent), 2) AS cpu_percent_avg,
       max(memory_usage_bytes) AS memory_peak_bytes, argMax(memory_limit_bytes, time) AS memory_limit_bytes,
       max(pids_current) AS processes_peak, argMax(pids_max, time) AS processes_limit,
       max(connections) AS connections_peak, max(open_fds) AS open_fds_peak,
       min(cpu_throttled_periods_total) AS throttled_min, max(cpu_throttled_periods_total) AS throttled_max,
       max(pids_max_events_total) AS pids_max_events_total, max(memory_oom_kills_total) AS oom_kills_total
FROM metrics FINAL
WHERE container_id = {cid:String}
  AND time >= fromUnixTimestamp64Milli({since:Int64})
  AND time <= fromUnixTimestamp64Milli({until:Int64})
GROUP BY intDiv(toUnixTimestamp64Milli(time), {step:UInt64}) ORDER BY t
"""

TOP_PROCESSES = """
SELECT comm, exe, any(cmdline) AS example, uniqExact(pid) AS pids, count() AS sightings,
       toUnixTimestamp64Milli(min(time)) AS first_seen, toUnixTimestamp64Milli(max(time)) AS last_seen
FROM processes FINAL WHERE container_id = {cid:String}
      AND time >= fromUnixTimestamp64Milli({since:Int64})
      AND time <= fromUnixTimestamp64Milli({until:Int64})
GROUP BY comm, exe ORDER BY sightings DESC, comm LIMIT {limit:UInt32}
"""

# An action's reason is the enforcement command's (the enforcer's result repeats it only
# when it has something to add).
COMMAND_REASONS = """
SELECT command_id, any(reason) AS reason FROM commands FINAL
WHERE container_id = {cid:String} GROUP BY command_id
"""

ACTIONS = """
SELECT toUnixTimestamp64Milli(a.time) AS time_ms, a.action AS action, a.result AS result,
       if(a.reason != '', a.reason, c.reason) AS reason, a.rule_ids AS rule_ids, a.latency_ms AS latency_ms,
       a.command_id AS command_id
FROM (SELECT * FROM actions FINAL WHERE container_id = {cid:String}
      AND time >= fromUnixTimestamp64Milli({since:Int64})
      AND time <= fromUnixTimestamp64Milli({until:Int64})) AS a
LEFT JOIN (__COMMAND_REASONS__) AS c ON c.command_id = a.command_id
ORDER BY time_ms
""".replace("__COMMAND_REASONS__", COMMAND_REASONS)

TIMELINE = """
SELECT * FROM (
    SELECT toUnixTimestamp64Milli(time) AS time_ms, 'violation' AS kind, activity AS what,
           concat(rule_id, ' (', severity, ', x', toString(count), ')') AS detail, disposition AS outcome
    FROM violation_events FINAL WHERE container_id = {cid:String}
      AND time >= fromUnixTimestamp64Milli({since:Int64})
      AND time <= fromUnixTimestamp64Milli({until:Int64})
    UNION ALL
    SELECT time_ms, 'action', action, reason, result FROM (__ACTIONS__)
    UNION ALL
    SELECT toUnixTimestamp64Milli(time), 'audit', concat(category, ':', action),
           if(subject != '', subject, reason), multiIf(allowed IS NULL, '', allowed, 'allowed', 'denied')
    FROM audit FINAL WHERE container_id = {cid:String}
      AND time >= fromUnixTimestamp64Milli({since:Int64})
      AND time <= fromUnixTimestamp64Milli({until:Int64})
      AND (category = 'lifecycle' OR allowed = false)
) ORDER BY time_ms LIMIT {limit:UInt32}
""".replace("__ACTIONS__", ACTIONS)

# --- fleet -------------------------------------------------------------------------

FLEET_SANDBOXES = """
SELECT count() AS total, countIf(NOT is_destroyed) AS active, countIf(is_destroyed) AS destroyed
FROM sandbox_state
"""

TOP_SANDBOXES = """
SELECT v.container_id AS container_id, any(s.image) AS image, any(s.sandbox_name) AS sandbox_name,
       count() AS findings,
       sum(v.count) AS occurrences, max(v.severity_id) AS max_severity_id,
       groupUniqArray(v.rule_id) AS rules
FROM (SELECT * FROM violations FINAL WHERE last_seen >= fromUnixTimestamp64Milli({since:Int64})
      AND first_seen <= fromUnixTimestamp64Milli({until:Int64})) AS v
LEFT JOIN sandbox_state AS s ON s.container_id = v.container_id
GROUP BY container_id ORDER BY findings DESC, occurrences DESC, container_id LIMIT {limit:UInt32}
"""

TOP_IMAGES = """
SELECT if(image = '', '(unknown)', image) AS image, count() AS findings, uniqExact(container_id) AS sandboxes,
       sum(count) AS occurrences
FROM violations FINAL WHERE last_seen >= fromUnixTimestamp64Milli({since:Int64})
  AND first_seen <= fromUnixTimestamp64Milli({until:Int64})
GROUP BY image ORDER BY findings DESC, image LIMIT {limit:UInt32}
"""

# Findings first seen in each bucket of {bucket} ms (a nice step: buckets fall on round times).
FINDINGS_EXTENT = """
SELECT count() AS n, toUnixTimestamp64Milli(min(first_seen)) AS first,
       toUnixTimestamp64Milli(max(first_seen)) AS last
FROM violations FINAL WHERE first_seen >= fromUnixTimestamp64Milli({since:Int64})
  AND first_seen <= fromUnixTimestamp64Milli({until:Int64})
"""

BY_TYPE_OVER_TIME = """
SELECT intDiv(toUnixTimestamp64Milli(first_seen), {bucket:UInt64}) * {bucket:UInt64} AS t,
       violation_type, count() AS findings
FROM violations FINAL WHERE first_seen >= fromUnixTimestamp64Milli({since:Int64})
  AND first_seen <= fromUnixTimestamp64Milli({until:Int64})
GROUP BY t, violation_type ORDER BY t, violation_type
"""

FLEET_GROUPS = """
SELECT violation_type, rule_id, severity, count() AS n FROM violations FINAL
WHERE last_seen >= fromUnixTimestamp64Milli({since:Int64})
  AND first_seen <= fromUnixTimestamp64Milli({until:Int64})
GROUP BY violation_type, rule_id, severity
"""

FLEET_ACTIONS = """
SELECT action, result, count() AS n FROM actions FINAL WHERE time >= fromUnixTimestamp64Milli({since:Int64})
  AND time <= fromUnixTimestamp64Milli({until:Int64})
GROUP BY action, result ORDER BY n DESC, action, result
"""

LATENCY = """
SELECT count() AS n, quantileExact(0.5)(latency_ms) AS p50, quantileExact(0.95)(latency_ms) AS p95,
       quantileExact(0.99)(latency_ms) AS p99, max(latency_ms) AS max
FROM actions FINAL WHERE time >= fromUnixTimestamp64Milli({since:Int64})
  AND time <= fromUnixTimestamp64Milli({until:Int64}) AND latency_ms IS NOT NULL AND result = 'applied'
"""

# The kernel layer's mode per host, as each collector said at its start (audit, category collector).
KERNEL_MODE = """
SELECT host, argMax(JSONExtractString(details, 'mode'), time) AS mode,
       argMax(JSONExtractString(details, 'prevention'), time) AS prevention,
       argMax(JSONExtractString(details, 'cause'), time) AS cause,
       argMax(JSONExtractString(details, 'reason'), time) AS reason,
       toUnixTimestamp64Milli(max(time)) AS since_ms
FROM audit FINAL
WHERE category = 'collector' AND action = 'kernel_mode'
GROUP BY host ORDER BY host
"""

# What the kernel saw of one sandbox in the window.
KERNEL_COUNTS = """
SELECT count() AS execs, countIf(blocked) AS blocked, countIf(exe_writable) AS written_then_run,
       uniqExact(program) AS programs
FROM exec_events FINAL
WHERE container_id = {cid:String}
  AND time >= fromUnixTimestamp64Milli({since:Int64}) AND time <= fromUnixTimestamp64Milli({until:Int64})
"""
