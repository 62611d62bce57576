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

FINDINGS_TOTALS = """
SELECT count() AS findings, sum(count) AS occurrences,
       countIf(last_seen >= fromUnixTimestamp64Milli({recent:Int64})) AS recent
FROM violations FINAL WHERE container_id = {cid:String}
"""

FINDINGS_BY = """
SELECT {col:Identifier} AS k, count() AS n FROM violations FINAL
WHERE container_id = {cid:String} GROUP BY k ORDER BY n DESC, k
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

SERIES = """
SELECT toUnixTimestamp(minute) * 1000 AS t, round(cpu_percent_avg, 2) AS cpu_percent,
       memory_peak_bytes, memory_limit_bytes, processes_peak, processes_limit, connections_peak,
       open_fds_peak, throttled_periods, pids_max_events_total, oom_kills_total
FROM metrics_1m_view
WHERE container_id = {cid:String}
  AND minute >= toStartOfMinute(fromUnixTimestamp64Milli({since:Int64}))
  AND minute <= fromUnixTimestamp64Milli({until:Int64})
ORDER BY minute
"""

TIMELINE = """
SELECT * FROM (
    SELECT toUnixTimestamp64Milli(time) AS time_ms, 'violation' AS kind, activity AS what,
           concat(rule_id, ' (', severity, ', x', toString(count), ')') AS detail, disposition AS outcome
    FROM violation_events FINAL WHERE container_id = {cid:String}
      AND time >= fromUnixTimestamp64Milli({since:Int64})
      AND time <= fromUnixTimestamp64Milli({until:Int64})
    UNION ALL
    SELECT toUnixTimestamp64Milli(time), 'action', action, reason, result
    FROM actions FINAL WHERE container_id = {cid:String}
      AND time >= fromUnixTimestamp64Milli({since:Int64})
      AND time <= fromUnixTimestamp64Milli({until:Int64})
    UNION ALL
    SELECT toUnixTimestamp64Milli(time), 'audit', concat(category, ':', action),
           if(subject != '', subject, reason), multiIf(allowed IS NULL, '', allowed, 'allowed', 'denied')
    FROM audit FINAL WHERE container_id = {cid:String}
      AND time >= fromUnixTimestamp64Milli({since:Int64})
      AND time <= fromUnixTimestamp64Milli({until:Int64})
      AND (category = 'lifecycle' OR allowed = false)
) ORDER BY time_ms LIMIT {limit:UInt32}
"""

TOP_PROCESSES = """
SELECT comm, exe, any(cmdline) AS example, uniqExact(pid) AS pids, count() AS sightings,
       toUnixTimestamp64Milli(min(time)) AS first_seen, toUnixTimestamp64Milli(max(time)) AS last_seen
FROM processes FINAL WHERE container_id = {cid:String}
      AND time >= fromUnixTimestamp64Milli({since:Int64})
      AND time <= fromUnixTimestamp64Milli({until:Int64})
GROUP BY comm, exe ORDER BY sightings DESC, comm LIMIT {limit:UInt32}
"""

ACTIONS = """
SELECT toUnixTimestamp64Milli(time) AS time_ms, action, result, reason, rule_ids, latency_ms, command_id
FROM actions FINAL WHERE container_id = {cid:String}
      AND time >= fromUnixTimestamp64Milli({since:Int64})
      AND time <= fromUnixTimestamp64Milli({until:Int64})
ORDER BY time_ms
"""

# --- fleet -------------------------------------------------------------------------

FLEET_SANDBOXES = """
SELECT count() AS total, countIf(NOT is_destroyed) AS active, countIf(is_destroyed) AS destroyed
FROM sandbox_state
"""

TOP_SANDBOXES = """
SELECT v.container_id AS container_id, any(s.image) AS image, count() AS findings,
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

BY_TYPE_OVER_TIME = """
SELECT toUnixTimestamp(toStartOfInterval(first_seen, toIntervalMinute({bucket:UInt32}))) * 1000 AS t,
       violation_type, count() AS findings
FROM violations FINAL WHERE first_seen >= fromUnixTimestamp64Milli({since:Int64})
  AND first_seen <= fromUnixTimestamp64Milli({until:Int64})
GROUP BY t, violation_type ORDER BY t, violation_type
"""

FLEET_BY = """
SELECT {col:Identifier} AS k, count() AS n FROM violations FINAL
WHERE last_seen >= fromUnixTimestamp64Milli({since:Int64})
  AND first_seen <= fromUnixTimestamp64Milli({until:Int64})
GROUP BY k ORDER BY n DESC, k
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
