"""The sandbox's own processes are the last the OOM killer picks inside it.

The container's ``OomScoreAdj`` (sandbox.config) is inherited by every exec, so commands
run at that score. Right after the start, before any command exists, the init and the
lifetime process are lowered from the host to ``CORE_OOM_SCORE_ADJ``: a workload that runs
out of memory loses the process that allocated, never the sandbox (issue 15). Lowering a
score below 0 needs CAP_SYS_RESOURCE: where the host grants it to the manager, the core goes
well below what any command can reach; where not, to 0, the floor commands share.
"""

from __future__ import annotations

from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

# Commands run at sandbox.config.OOM_SCORE_ADJ (500) and may lower themselves only to 0 (below
# needs CAP_SYS_RESOURCE, which they do not hold). The kernel adds adj/1000 of the memory limit
# to a process's rss when it picks: at -500 the init and the lifetime process (~100 KiB each)
# are behind any command by half the limit, however the workload spreads its memory over
# processes. Under host pressure they free nothing worth having: the commands go first.
CORE_OOM_SCORE_ADJ = -500
# Without CAP_SYS_RESOURCE (some hosts drop it even for root) the lowest reachable score is 0:
# still 50 % of the limit behind a command that keeps its 500; one that lowers itself to 0 is
# judged by size, and the init's ~100 KiB is the smallest there is.
FALLBACK_OOM_SCORE_ADJ = 0
PROC = Path("/proc")


def _children(pid: int, proc: Path) -> list[int]:
    try:
        return [int(c) for c in (proc / str(pid) / "task" / str(pid) / "children").read_text().split()]
    except OSError:
        return []


def _lower(pid: int, proc: Path) -> int | None:
    """The score set (the core's, or the fallback where the host refuses it); None if neither."""
    path = proc / str(pid) / "oom_score_adj"
    for score in (CORE_OOM_SCORE_ADJ, FALLBACK_OOM_SCORE_ADJ):
        try:
            path.write_text(str(score))
        except PermissionError:
            continue  # below the floor of a host without CAP_SYS_RESOURCE: try the floor
        except OSError as exc:
            log.warning("oom_score_not_lowered", pid=pid, error=repr(exc))
            return None
        return score
    log.warning("oom_score_not_lowered", pid=pid, error="permission denied")
    return None


def protect_core(init_pid: int, proc: Path = PROC) -> int | None:
    """Lowers the sandbox's own processes' OOM score; the score set, None (logged) when the
    host refused. The init first: a lifetime process it forks later inherits the score, one it
    forked already is in its children when they are read after."""
    score = _lower(init_pid, proc)
    for child in _children(init_pid, proc):
        child_score = _lower(child, proc)
        score = child_score if score is None or child_score is None else max(score, child_score)
    return score
