"""Leases on the real host: alive while the process runs, gone with it; the reclaimer
judges only leased resources of this host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sandbox.gc import Reclaimer, _expired
from sandbox.labels import EXPIRES_AT, HOST, LEASE, MANAGER
from sandbox.lease import STALE_S, Lease, lease_alive, process_start


def test_a_lease_lives_with_its_process(tmp_path: Path) -> None:
    lease = Lease(tmp_path / "leases", "m1")
    assert not lease_alive(lease.directory, "m1")
    lease.take()
    assert lease_alive(lease.directory, "m1")
    lease.beat()
    lease.release()
    assert not lease_alive(lease.directory, "m1")


def test_a_dead_process_or_a_reused_pid_is_no_lease(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    (tmp_path / "dead.json").write_text(json.dumps({"pid": child.pid, "start": 1, "pid_ns": _ns()}))
    assert not lease_alive(tmp_path, "dead")
    me = os.getpid()
    (tmp_path / "reused.json").write_text(json.dumps({"pid": me, "start": -5, "pid_ns": _ns()}))
    assert not lease_alive(tmp_path, "reused")
    (tmp_path / "me.json").write_text(json.dumps({"pid": me, "start": process_start(me), "pid_ns": _ns()}))
    assert lease_alive(tmp_path, "me")


def test_another_pid_namespace_is_judged_by_the_heartbeat(tmp_path: Path) -> None:
    path = tmp_path / "far.json"
    path.write_text(json.dumps({"pid": 1, "start": 1, "pid_ns": "pid:[1]"}))
    assert lease_alive(tmp_path, "far")
    old = path.stat().st_mtime - STALE_S - 1
    os.utime(path, (old, old))
    assert not lease_alive(tmp_path, "far")


def test_only_leased_resources_of_this_host_with_a_gone_manager_are_abandoned(tmp_path: Path) -> None:
    Lease(tmp_path, "alive").take()
    reclaimer = Reclaimer(api=None, lease_dir=tmp_path, host="h1", spare=frozenset({"me"}))
    mine = str(tmp_path)
    assert reclaimer.abandoned({MANAGER: "gone", HOST: "h1", LEASE: mine})
    assert not reclaimer.abandoned({MANAGER: "gone", HOST: "h1"})  # made without a lease
    assert not reclaimer.abandoned({MANAGER: "gone", HOST: "h1", LEASE: "/elsewhere"})  # another world
    assert not reclaimer.abandoned({MANAGER: "gone", HOST: "h2", LEASE: mine})  # another host's
    assert not reclaimer.abandoned({MANAGER: "alive", HOST: "h1", LEASE: mine})
    assert not reclaimer.abandoned({MANAGER: "me", HOST: "h1", LEASE: mine})


def test_expiry_waits_for_the_owners_own_check() -> None:
    assert _expired({EXPIRES_AT: "100"}, now=200)
    assert not _expired({EXPIRES_AT: "100"}, now=105)
    assert not _expired({EXPIRES_AT: "soon"}, now=200) and not _expired({}, now=200)


def _ns() -> str:
    return os.readlink("/proc/self/ns/pid")
