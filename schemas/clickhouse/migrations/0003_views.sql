-- Convenience views for SOC queries; they read the deduplicated tables (FINAL).

-- One row per sandbox: when it was first seen, whether and when it was destroyed,
-- and the policy in force (the latest policy event).
CREATE VIEW IF NOT EXISTS $db.sandbox_state AS
SELECT
    container_id,
    min(time) AS first_seen,
    max(destroyed) AS is_destroyed,
    maxIf(time, destroyed) AS destroyed_at,
    argMaxIf(image, time, NOT destroyed) AS image,
    argMaxIf(sandbox_name, time, NOT destroyed) AS sandbox_name,
    argMaxIf(host, time, NOT destroyed) AS host,
    argMaxIf(policy_id, time, NOT destroyed) AS policy_id,
    argMaxIf(policy_name, time, NOT destroyed) AS policy_name,
    argMaxIf(network_policy, time, NOT destroyed) AS network_policy,
    argMaxIf(memory_mb, time, NOT destroyed) AS memory_mb,
    argMaxIf(cpu_percent, time, NOT destroyed) AS cpu_percent,
    argMaxIf(max_processes, time, NOT destroyed) AS max_processes,
    argMaxIf(max_network_connections, time, NOT destroyed) AS max_network_connections,
    argMaxIf(enable_monitoring, time, NOT destroyed) AS enable_monitoring,
    argMaxIf(policy, time, NOT destroyed) AS policy
FROM $db.sandboxes FINAL
GROUP BY container_id;

-- Per-minute resource use per sandbox, read from the rollup. CPU is the average over the
-- minute from the cumulative counter; a minute with a single sample uses that sample's rate.
CREATE VIEW IF NOT EXISTS $db.metrics_1m_view AS
SELECT
    container_id,
    minute,
    uniqExactMerge(samples) AS sample_count,
    if(max(last_time) > min(first_time),
       (max(cpu_ns_max) - min(cpu_ns_min)) / (dateDiff('millisecond', min(first_time), max(last_time)) * 1e4),
       max(cpu_percent_max)) AS cpu_percent_avg,
    max(cpu_percent_max) AS cpu_percent_peak,
    max(throttled_periods_max) - min(throttled_periods_min) AS throttled_periods,
    max(memory_max) AS memory_peak_bytes,
    max(working_set_max) AS working_set_peak_bytes,
    argMaxMerge(memory_limit) AS memory_limit_bytes,
    max(pids_peak) AS processes_peak,
    argMaxMerge(pids_limit) AS processes_limit,
    max(pids_max_events_max) AS pids_max_events_total,
    max(oom_kills_max) AS oom_kills_total,
    max(connections_max) AS connections_peak,
    max(open_fds_max) AS open_fds_peak
FROM $db.metrics_1m
GROUP BY container_id, minute
