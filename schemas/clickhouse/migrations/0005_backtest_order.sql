-- What a backtest needs to put a sandbox's events back in the order the processor read
-- them (sandguard.backtest), so that replaying them reproduces every finding and command.
--
-- processes.position: the place of each process in its snapshot, as the collector listed
-- it (cgroup v2 lists processes in no particular order). The engine judges a snapshot's
-- processes in that order, and the order decides which finding reaches an escalation
-- threshold. Rows stored before this migration have 0 (read in pid order).
--
-- audit.source_offset: the message's offset in its topic partition. A sandbox's audit
-- events are read in offset order; two within one millisecond (two denied commands) have
-- random event ids, so without it their order, and which one escalates, would be lost.
-- Rows stored before this migration have -1 (read in event id order).

ALTER TABLE $db.processes ADD COLUMN IF NOT EXISTS position UInt16 DEFAULT 0 CODEC(T64, ZSTD(1));

ALTER TABLE $db.audit ADD COLUMN IF NOT EXISTS source_offset Int64 DEFAULT -1 CODEC(Delta, ZSTD(1))
