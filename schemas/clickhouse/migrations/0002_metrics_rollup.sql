-- Per-minute rollup of metrics, filled by a materialized view at insert time.
-- Every aggregate is idempotent (min, max, argMax, uniqExact of sample times), so a
-- retried or replayed batch that reaches the view twice changes nothing: CPU use is
-- derived from the cumulative counter (max - min of cpu_usage_ns_total over the minute).

CREATE TABLE IF NOT EXISTS $db.metrics_1m
(
    container_id          LowCardinality(String),
    minute                DateTime('UTC') CODEC(DoubleDelta, ZSTD(1)),
    samples               AggregateFunction(uniqExact, DateTime64(3, 'UTC')),
    first_time            SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_time             SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    cpu_ns_min            SimpleAggregateFunction(min, UInt64),
    cpu_ns_max            SimpleAggregateFunction(max, UInt64),
    cpu_percent_max       SimpleAggregateFunction(max, Float32),
    throttled_periods_min SimpleAggregateFunction(min, UInt64),
    throttled_periods_max SimpleAggregateFunction(max, UInt64),
    memory_max            SimpleAggregateFunction(max, UInt64),
    working_set_max       SimpleAggregateFunction(max, UInt64),
    memory_limit          AggregateFunction(argMax, UInt64, DateTime64(3, 'UTC')),
    pids_peak             SimpleAggregateFunction(max, UInt32),
    pids_limit            AggregateFunction(argMax, UInt32, DateTime64(3, 'UTC')),
    pids_max_events_max   SimpleAggregateFunction(max, UInt64),
    oom_kills_max         SimpleAggregateFunction(max, UInt32),
    connections_max       SimpleAggregateFunction(max, UInt32),
    open_fds_max          SimpleAggregateFunction(max, UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(minute)
ORDER BY (container_id, minute)
TTL minute + INTERVAL $history_ttl_days DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS $db.metrics_1m_mv TO $db.metrics_1m AS
SELECT
    container_id,
    toStartOfMinute(time) AS minute,
    uniqExactState(time) AS samples,
    min(time) AS first_time,
    max(time) AS last_time,
    min(cpu_usage_ns_total) AS cpu_ns_min,
    max(cpu_usage_ns_total) AS cpu_ns_max,
    max(ifNull(cpu_percent, 0)) AS cpu_percent_max,
    min(cpu_throttled_periods_total) AS throttled_periods_min,
    max(cpu_throttled_periods_total) AS throttled_periods_max,
    max(memory_usage_bytes) AS memory_max,
    max(memory_working_set_bytes) AS working_set_max,
    argMaxState(ifNull(memory_limit_bytes, 0), time) AS memory_limit,
    max(pids_current) AS pids_peak,
    argMaxState(ifNull(pids_max, 0), time) AS pids_limit,
    max(pids_max_events_total) AS pids_max_events_max,
    max(memory_oom_kills_total) AS oom_kills_max,
    max(connections) AS connections_max,
    max(open_fds) AS open_fds_max
FROM $db.metrics
GROUP BY container_id, minute
