-- Process group, session and the pid inside the sandbox, now read in the kernel: exec
-- events get pgid and sid (host numbers, like pid: the reverse-shell rule joins the
-- members of a pipeline by them), connect events the pid inside the sandbox. TCP state
-- changes (phase 'state') already fit connect_events (saddr, sport, old_state, new_state).

ALTER TABLE $db.exec_events
    ADD COLUMN IF NOT EXISTS pgid Nullable(UInt32) CODEC(T64, ZSTD(1)),
    ADD COLUMN IF NOT EXISTS sid Nullable(UInt32) CODEC(T64, ZSTD(1));

ALTER TABLE $db.connect_events
    ADD COLUMN IF NOT EXISTS ns_pid Nullable(UInt32) CODEC(T64, ZSTD(1));
