-- Kernel events of sandboxes (topic sandguard.kernel): every exec, exit and connect, for
-- hunting (docs/hunting.md). Same keys and dedupe as the other raw tables: a replay or two
-- overlapping tracers (event ids are stable) store each event once after merges, and
-- queries read with FINAL. High volume (an exec-heavy sandbox runs ~2,000 execs/s), so
-- the text columns are ZSTD(3) and the ids T64/Delta.

CREATE TABLE IF NOT EXISTS $db.exec_events
(
    event_id       String CODEC(ZSTD(1)),
    time           DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    container_id   LowCardinality(String),
    host           LowCardinality(String),
    pid            UInt32 CODEC(Delta, ZSTD(1)),
    ppid           UInt32 CODEC(Delta, ZSTD(1)),
    ns_pid         Nullable(UInt32) CODEC(T64, ZSTD(1)),
    uid            UInt32 CODEC(T64, ZSTD(1)),
    program        LowCardinality(String),
    comm           LowCardinality(String),
    filename       String CODEC(ZSTD(3)),
    exe            LowCardinality(String),
    script         String CODEC(ZSTD(3)),
    argv           Array(String) CODEC(ZSTD(3)),
    argv_truncated Bool,
    cwd            LowCardinality(String),
    parent_exe     LowCardinality(String),
    parent_comm    LowCardinality(String),
    stdio          Array(LowCardinality(String)),
    parent_stdio   Array(LowCardinality(String)),
    exe_writable   Bool,
    exe_fs         LowCardinality(String),
    blocked        Bool,
    mode           LowCardinality(String),
    mnt_ns         UInt64 CODEC(T64, ZSTD(1)),
    ktime_ns       UInt64 CODEC(DoubleDelta, ZSTD(1)),
    source         LowCardinality(String),
    best_effort    Bool,
    schema_version LowCardinality(String),
    INDEX idx_program program TYPE set(256) GRANULARITY 4,
    INDEX idx_blocked blocked TYPE set(2) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(time)
ORDER BY (container_id, time, event_id)
TTL toDateTime(time) + INTERVAL $history_ttl_days DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS $db.exit_events
(
    event_id       String CODEC(ZSTD(1)),
    time           DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    container_id   LowCardinality(String),
    host           LowCardinality(String),
    pid            UInt32 CODEC(Delta, ZSTD(1)),
    exit_code      Nullable(Int32) CODEC(T64, ZSTD(1)),
    signal         Nullable(Int32) CODEC(T64, ZSTD(1)),
    ktime_ns       UInt64 CODEC(DoubleDelta, ZSTD(1)),
    source         LowCardinality(String),
    schema_version LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(time)
ORDER BY (container_id, time, event_id)
TTL toDateTime(time) + INTERVAL $history_ttl_days DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS $db.connect_events
(
    event_id       String CODEC(ZSTD(1)),
    time           DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    container_id   LowCardinality(String),
    host           LowCardinality(String),
    pid            UInt32 CODEC(Delta, ZSTD(1)),
    comm           LowCardinality(String),
    exe            LowCardinality(String),
    uid            UInt32 CODEC(T64, ZSTD(1)),
    phase          LowCardinality(String),
    family         LowCardinality(String),
    protocol       LowCardinality(String),
    daddr          String CODEC(ZSTD(1)),
    dport          UInt16 CODEC(T64, ZSTD(1)),
    saddr          Nullable(String) CODEC(ZSTD(1)),
    sport          Nullable(UInt16) CODEC(T64, ZSTD(1)),
    result         Nullable(Int32) CODEC(T64, ZSTD(1)),
    old_state      LowCardinality(String),
    new_state      LowCardinality(String),
    ktime_ns       UInt64 CODEC(DoubleDelta, ZSTD(1)),
    source         LowCardinality(String),
    schema_version LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(time)
ORDER BY (container_id, time, event_id)
TTL toDateTime(time) + INTERVAL $history_ttl_days DAY
SETTINGS ttl_only_drop_parts = 1;
