-- sandguard history: one table per topic family (docs/soc.md documents every column).
-- Raw tables are ReplacingMergeTree keyed by (container_id, time, event_id): a replayed
-- or retried event has the same key, so it is stored once after merges, and every query
-- reads them with FINAL so duplicates never count before merges either.
-- Times are DateTime64(3, 'UTC') (epoch ms); partitions are daily; TTLs come from settings.

CREATE TABLE IF NOT EXISTS $db.metrics
(
    event_id                    String CODEC(ZSTD(1)),
    time                        DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    container_id                LowCardinality(String),
    host                        LowCardinality(String),
    interval_ms                 Nullable(UInt32) CODEC(T64, ZSTD(1)),
    cpu_usage_ns_total          UInt64 CODEC(DoubleDelta, ZSTD(1)),
    cpu_percent                 Nullable(Float32) CODEC(Gorilla, ZSTD(1)),
    cpu_periods_total           UInt64 CODEC(DoubleDelta, ZSTD(1)),
    cpu_throttled_periods_total UInt64 CODEC(Delta, ZSTD(1)),
    cpu_throttled_ns_total      UInt64 CODEC(Delta, ZSTD(1)),
    memory_usage_bytes          UInt64 CODEC(T64, ZSTD(1)),
    memory_working_set_bytes    UInt64 CODEC(T64, ZSTD(1)),
    memory_limit_bytes          Nullable(UInt64) CODEC(T64, ZSTD(1)),
    memory_failcnt_total        UInt64 CODEC(Delta, ZSTD(1)),
    memory_oom_kills_total      UInt32 CODEC(Delta, ZSTD(1)),
    pids_current                UInt32 CODEC(T64, ZSTD(1)),
    pids_max                    Nullable(UInt32) CODEC(T64, ZSTD(1)),
    pids_max_events_total       UInt64 CODEC(Delta, ZSTD(1)),
    open_fds                    UInt32 CODEC(T64, ZSTD(1)),
    sock_tcp                    UInt32 CODEC(T64, ZSTD(1)),
    sock_tcp_orphan             UInt32 CODEC(T64, ZSTD(1)),
    sock_tcp_time_wait          UInt32 CODEC(T64, ZSTD(1)),
    sock_udp                    UInt32 CODEC(T64, ZSTD(1)),
    sock_raw                    UInt32 CODEC(T64, ZSTD(1)),
    sock_tcp6                   UInt32 CODEC(T64, ZSTD(1)),
    sock_udp6                   UInt32 CODEC(T64, ZSTD(1)),
    sock_tcp_states             Map(LowCardinality(String), UInt32) CODEC(ZSTD(1)),
    connections                 UInt32 MATERIALIZED sock_tcp + sock_udp + sock_tcp6 + sock_udp6 CODEC(T64, ZSTD(1)),
    disk_usage_bytes            Nullable(UInt64) CODEC(T64, ZSTD(1)),
    partial                     Array(LowCardinality(String)) CODEC(ZSTD(1)),
    schema_version              LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(time)
ORDER BY (container_id, time, event_id)
TTL toDateTime(time) + INTERVAL $metrics_ttl_days DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS $db.limits
(
    event_id                String CODEC(ZSTD(1)),
    time                    DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    container_id            LowCardinality(String),
    host                    LowCardinality(String),
    memory_limit_bytes      Nullable(UInt64) CODEC(T64, ZSTD(1)),
    memory_swap_limit_bytes Nullable(Int64) CODEC(T64, ZSTD(1)),
    cpu_quota_us            Nullable(Int64) CODEC(T64, ZSTD(1)),
    cpu_period_us           Nullable(Int64) CODEC(T64, ZSTD(1)),
    pids_max                Nullable(UInt32) CODEC(T64, ZSTD(1)),
    nofile_soft             Nullable(UInt64) CODEC(T64, ZSTD(1)),
    nofile_hard             Nullable(UInt64) CODEC(T64, ZSTD(1)),
    schema_version          LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(time)
ORDER BY (container_id, time, event_id)
TTL toDateTime(time) + INTERVAL $metrics_ttl_days DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS $db.process_snapshots
(
    event_id       String CODEC(ZSTD(1)),
    time           DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    container_id   LowCardinality(String),
    host           LowCardinality(String),
    full           Bool,
    seq            UInt64 CODEC(Delta, ZSTD(1)),
    count          UInt32 CODEC(T64, ZSTD(1)),
    listed         UInt32 CODEC(T64, ZSTD(1)),
    exited         Array(UInt32) CODEC(ZSTD(1)),
    schema_version LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(time)
ORDER BY (container_id, time, event_id)
TTL toDateTime(time) + INTERVAL $history_ttl_days DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS $db.processes
(
    event_id       String CODEC(ZSTD(1)),
    time           DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    container_id   LowCardinality(String),
    host           LowCardinality(String),
    full           Bool,
    pid            UInt32 CODEC(T64, ZSTD(1)),
    ns_pid         Nullable(UInt32) CODEC(T64, ZSTD(1)),
    ppid           UInt32 CODEC(T64, ZSTD(1)),
    uid            UInt32 CODEC(T64, ZSTD(1)),
    comm           LowCardinality(String),
    exe            LowCardinality(String),
    argv           Array(String) CODEC(ZSTD(3)),
    cmdline        String CODEC(ZSTD(3)),
    argv_truncated Bool,
    state          LowCardinality(String),
    start_time     DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    -- Fleet-wide hunts look for a command or an executable across every sandbox.
    INDEX idx_comm comm TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_exe exe TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(time)
ORDER BY (container_id, time, event_id, pid)
TTL toDateTime(time) + INTERVAL $history_ttl_days DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS $db.audit
(
    event_id       String CODEC(ZSTD(1)),
    time           DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    container_id   LowCardinality(String),
    host           LowCardinality(String),
    category       LowCardinality(String),
    action         LowCardinality(String),
    actor          LowCardinality(String),
    allowed        Nullable(Bool),
    violation_type LowCardinality(String),
    subject        String CODEC(ZSTD(3)),
    reason         String CODEC(ZSTD(3)),
    details        String CODEC(ZSTD(3)),
    schema_version LowCardinality(String),
    INDEX idx_denied allowed TYPE set(3) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(time)
ORDER BY (container_id, time, event_id)
TTL toDateTime(time) + INTERVAL $history_ttl_days DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS $db.sandboxes
(
    event_id                String CODEC(ZSTD(1)),
    time                    DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    container_id            LowCardinality(String),
    host                    LowCardinality(String),
    destroyed               Bool,
    policy_id               LowCardinality(String),
    policy_name             LowCardinality(String),
    policy_version          LowCardinality(String),
    mode                    LowCardinality(String),
    sandbox_name            String CODEC(ZSTD(1)),
    image                   LowCardinality(String),
    labels                  Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    network_policy          LowCardinality(String),
    memory_mb               UInt32,
    cpu_percent             Float32,
    disk_mb                 UInt32,
    max_processes           UInt32,
    max_open_files          UInt32,
    max_network_connections UInt32,
    execution_timeout       UInt32,
    enable_monitoring       Bool,
    violation_threshold     UInt32,
    auto_terminate          Bool,
    policy                  String CODEC(ZSTD(3)),
    schema_version          LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(time)
ORDER BY (container_id, time, event_id)
TTL toDateTime(time) + INTERVAL $history_ttl_days DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS $db.violation_events
(
    event_id          String CODEC(ZSTD(1)),
    time              DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    container_id      LowCardinality(String),
    host              LowCardinality(String),
    violation_id      String CODEC(ZSTD(1)),
    activity          LowCardinality(String),
    version           UInt64,
    rule_id           LowCardinality(String),
    violation_type    LowCardinality(String),
    severity          LowCardinality(String),
    severity_id       UInt8,
    title             LowCardinality(String),
    message           String CODEC(ZSTD(3)),
    count             UInt32,
    first_seen        DateTime64(3, 'UTC'),
    last_seen         DateTime64(3, 'UTC'),
    sample_time       DateTime64(3, 'UTC'),
    detected_time     DateTime64(3, 'UTC'),
    policy_id         LowCardinality(String),
    policy_name       LowCardinality(String),
    policy_version    LowCardinality(String),
    mode              LowCardinality(String),
    disposition       LowCardinality(String),
    container_name    String CODEC(ZSTD(1)),
    image             LowCardinality(String),
    labels            Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    process_comm      LowCardinality(String),
    process_exe       String CODEC(ZSTD(1)),
    process_cmdline   String CODEC(ZSTD(3)),
    command           String CODEC(ZSTD(3)),
    path              String CODEC(ZSTD(3)),
    evidence          String CODEC(ZSTD(3)),
    schema_version    LowCardinality(String),
    INDEX idx_rule rule_id TYPE set(256) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(time)
ORDER BY (container_id, time, event_id)
TTL toDateTime(time) + INTERVAL $history_ttl_days DAY
SETTINGS ttl_only_drop_parts = 1;

-- One row per finding (violation_id), the latest of its events (highest version).
CREATE TABLE IF NOT EXISTS $db.violations AS $db.violation_events
ENGINE = ReplacingMergeTree(version)
PARTITION BY toDate(first_seen)
ORDER BY (container_id, violation_id)
TTL toDateTime(first_seen) + INTERVAL $history_ttl_days DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS $db.violations_mv TO $db.violations
AS SELECT * FROM $db.violation_events;

CREATE TABLE IF NOT EXISTS $db.commands
(
    event_id             String CODEC(ZSTD(1)),
    time                 DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    container_id         LowCardinality(String),
    host                 LowCardinality(String),
    command_id           String CODEC(ZSTD(1)),
    action               LowCardinality(String),
    mode                 LowCardinality(String),
    violation_ids        Array(String) CODEC(ZSTD(1)),
    rule_ids             Array(LowCardinality(String)),
    reason               String CODEC(ZSTD(3)),
    policy_id            LowCardinality(String),
    limits               String CODEC(ZSTD(3)),
    throttle_factor      Nullable(Float32),
    keep_filesystem      Bool,
    first_violation_time Nullable(DateTime64(3, 'UTC')),
    schema_version       LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(time)
ORDER BY (container_id, time, event_id)
TTL toDateTime(time) + INTERVAL $history_ttl_days DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS $db.actions
(
    event_id       String CODEC(ZSTD(1)),
    time           DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    container_id   LowCardinality(String),
    host           LowCardinality(String),
    command_id     String CODEC(ZSTD(1)),
    action         LowCardinality(String),
    result         LowCardinality(String),
    reason         String CODEC(ZSTD(3)),
    violation_ids  Array(String) CODEC(ZSTD(1)),
    rule_ids       Array(LowCardinality(String)),
    command_time   DateTime64(3, 'UTC'),
    latency_ms     Nullable(UInt32),
    details        String CODEC(ZSTD(3)),
    schema_version LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(time)
ORDER BY (container_id, time, event_id)
TTL toDateTime(time) + INTERVAL $history_ttl_days DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS $db.deadletters
(
    event_id       String CODEC(ZSTD(1)),
    time           DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    component      LowCardinality(String),
    source_topic   LowCardinality(String),
    partition      Nullable(Int32),
    offset         Nullable(Int64),
    key            Nullable(String),
    value          String CODEC(ZSTD(3)),
    error          String CODEC(ZSTD(3)),
    schema_version LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(time)
ORDER BY (source_topic, time, event_id)
TTL toDateTime(time) + INTERVAL $history_ttl_days DAY
SETTINGS ttl_only_drop_parts = 1
