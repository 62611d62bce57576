-- The place of each process in its snapshot, as the collector listed it (cgroup v2 lists a
-- cgroup's processes in no particular order). The engine judges a snapshot's processes in
-- that order, and the order decides which finding reaches an escalation threshold, so a
-- backtest needs it to reproduce the enforcement commands exactly. Rows stored before
-- this migration have 0 (their snapshots are read in pid order).

ALTER TABLE $db.processes ADD COLUMN IF NOT EXISTS position UInt16 DEFAULT 0 CODEC(T64, ZSTD(1))
