-- Fast ingest of metric samples: the sink hands the messages' JSON to the engine as they
-- came off the topic (JSONEachRow, strict settings) into this Null table, and the view
-- below validates and reshapes them into metrics (no Python parsing on the hot path).
-- Every field is Nullable with the model's default, so an omitted field takes the
-- default while an explicit null (which the models refuse) is caught by the view.
-- A batch with any row the engine refuses is retried by the sink through the models,
-- which dead-letter exactly the bad messages.

CREATE TABLE IF NOT EXISTS $db.metrics_json
(
    event_id                    Nullable(String) DEFAULT '',
    time                        Nullable(Int64) DEFAULT 0,
    container_id                Nullable(String) DEFAULT '',
    host                        Nullable(String) DEFAULT '',
    schema_version              Nullable(String) DEFAULT '1.0',
    kind                        Nullable(String) DEFAULT '',
    interval_ms                 Nullable(UInt32),
    cpu_usage_ns_total          Nullable(UInt64) DEFAULT 0,
    cpu_percent                 Nullable(Float64),
    cpu_periods_total           Nullable(UInt64) DEFAULT 0,
    cpu_throttled_periods_total Nullable(UInt64) DEFAULT 0,
    cpu_throttled_ns_total      Nullable(UInt64) DEFAULT 0,
    memory_usage_bytes          Nullable(UInt64) DEFAULT 0,
    memory_working_set_bytes    Nullable(UInt64) DEFAULT 0,
    memory_limit_bytes          Nullable(UInt64),
    memory_failcnt_total        Nullable(UInt64) DEFAULT 0,
    memory_oom_kills_total      Nullable(UInt32) DEFAULT 0,
    pids_current                Nullable(UInt32) DEFAULT 0,
    pids_max                    Nullable(UInt32),
    pids_max_events_total       Nullable(UInt64) DEFAULT 0,
    open_fds                    Nullable(UInt32) DEFAULT 0,
    sockets                     Tuple(tcp Nullable(UInt32), tcp_orphan Nullable(UInt32), tcp_time_wait Nullable(UInt32), udp Nullable(UInt32), raw Nullable(UInt32), tcp6 Nullable(UInt32), udp6 Nullable(UInt32),
                                  tcp_states Map(String, UInt32)),
    disk_usage_bytes            Nullable(UInt64),
    partial                     Array(String)
)
ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS $db.metrics_json_mv TO $db.metrics AS
SELECT
    if(throwIf(bad, 'metric sample refused: null value, missing id or time, not a metric, or cpu < 0') = 0,
       assumeNotNull(event_id), '') AS event_id,
    fromUnixTimestamp64Milli(assumeNotNull(time)) AS time,
    assumeNotNull(container_id) AS container_id,
    assumeNotNull(host) AS host,
    assumeNotNull(schema_version) AS schema_version,
    interval_ms,
    assumeNotNull(cpu_usage_ns_total) AS cpu_usage_ns_total,
    toFloat32(cpu_percent) AS cpu_percent,
    assumeNotNull(cpu_periods_total) AS cpu_periods_total,
    assumeNotNull(cpu_throttled_periods_total) AS cpu_throttled_periods_total,
    assumeNotNull(cpu_throttled_ns_total) AS cpu_throttled_ns_total,
    assumeNotNull(memory_usage_bytes) AS memory_usage_bytes,
    assumeNotNull(memory_working_set_bytes) AS memory_working_set_bytes,
    memory_limit_bytes,
    assumeNotNull(memory_failcnt_total) AS memory_failcnt_total,
    assumeNotNull(memory_oom_kills_total) AS memory_oom_kills_total,
    assumeNotNull(pids_current) AS pids_current,
    pids_max,
    assumeNotNull(pids_max_events_total) AS pids_max_events_total,
    assumeNotNull(open_fds) AS open_fds,
    disk_usage_bytes,
    assumeNotNull(sockets.tcp) AS sock_tcp,
    assumeNotNull(sockets.tcp_orphan) AS sock_tcp_orphan,
    assumeNotNull(sockets.tcp_time_wait) AS sock_tcp_time_wait,
    assumeNotNull(sockets.udp) AS sock_udp,
    assumeNotNull(sockets.raw) AS sock_raw,
    assumeNotNull(sockets.tcp6) AS sock_tcp6,
    assumeNotNull(sockets.udp6) AS sock_udp6,
    CAST(sockets.tcp_states, 'Map(LowCardinality(String), UInt32)') AS sock_tcp_states,
    CAST(partial, 'Array(LowCardinality(String))') AS partial
FROM
(
    SELECT *, (
        isNull(event_id) OR isNull(time) OR isNull(container_id) OR isNull(host) OR isNull(schema_version)
        OR isNull(kind) OR isNull(cpu_usage_ns_total) OR isNull(cpu_periods_total)
        OR isNull(cpu_throttled_periods_total) OR isNull(cpu_throttled_ns_total) OR isNull(memory_usage_bytes)
        OR isNull(memory_working_set_bytes) OR isNull(memory_failcnt_total) OR isNull(memory_oom_kills_total)
        OR isNull(pids_current) OR isNull(pids_max_events_total) OR isNull(open_fds)
        OR isNull(sockets.tcp) OR isNull(sockets.tcp_orphan) OR isNull(sockets.tcp_time_wait) OR isNull(sockets.udp)
        OR isNull(sockets.raw) OR isNull(sockets.tcp6) OR isNull(sockets.udp6)
        OR event_id = '' OR container_id = '' OR time <= 0 OR kind != 'metric' OR cpu_percent < 0
    ) AS bad
    FROM $db.metrics_json
)
