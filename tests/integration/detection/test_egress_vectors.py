"""Egress from a sandbox with network policy ``none``, for real: every way to reach past
loopback is reported with its destination, and connections to its own listeners over
IPv4, IPv6 and IPv4-mapped IPv6 are counted against max_network_connections (and are
never egress). A datagram sent without connect and a TCP fast-open send (once a kernel
gap: the bpftrace probe saw connect only) are reported too: the program traces sendto and
sendmsg with an address."""

from __future__ import annotations

import ast
import functools

from tests.integration.detection import egress_probe
from tests.integration.detection.conftest import MakeStack, Stack, detection_policy

FINDING_TIMEOUT_S = 15
CONNECT_SEEN = ("tcp4", "tcp6", "tcp mapped", "udp connect")
NOT_CONNECT = ("udp sendto", "tcp fastopen sendto")
# How a send past loopback fails with no route (and no IPv6 address at all).
UNREACHABLE = frozenset({"ENETUNREACH", "EADDRNOTAVAIL", "EHOSTUNREACH"})


async def _probe(make_stack: MakeStack) -> tuple[Stack, str, dict[str, str]]:
    policy = detection_policy(limits={"max_network_connections": 3}, violation_threshold=1000)
    stack = await make_stack(policy)
    m = stack.manager
    sid = await m.create_sandbox()
    await m.write_file(sid, "/work/probe.py", egress_probe.SCRIPT)
    run = await m.execute(sid, "python3 /work/probe.py", timeout=30)
    assert run.stdout.startswith("RESULTS"), run.stdout + run.stderr
    results = ast.literal_eval(run.stdout.split(" ", 1)[1].rsplit(" ", 1)[0])
    return stack, sid, results


def _egress(stack: Stack, sid: str) -> set[str]:
    return {v.message for v in stack.seen.violations(sid) if v.rule_id == "network.egress_denied"}


def _counted(stack: Stack, sid: str) -> list[str]:
    return [v.message for v in stack.seen.violations(sid) if v.rule_id == "network.connections"]


def _named(messages: set[str], name: str) -> bool:
    return any(f" {egress_probe.OUTSIDE[name]} " in m for m in messages)


async def test_egress_past_loopback_is_reported_and_loopback_is_counted(make_stack: MakeStack) -> None:
    stack, sid, results = await _probe(make_stack)
    assert results["raw socket"] == results["packet socket"] == "EPERM", results  # no CAP_NET_RAW
    assert all(results[n] in UNREACHABLE for n in CONNECT_SEEN), results  # nothing left
    await stack.wait_for("every connect past loopback", lambda: all(
        _named(_egress(stack, sid), n) for n in CONNECT_SEEN), FINDING_TIMEOUT_S)  # fmt: skip
    found = await stack.wait_for(
        "network.connections", functools.partial(_counted, stack, sid), FINDING_TIMEOUT_S
    )
    assert "more than max_network_connections (3)" in found[0]
    assert not any("127.0.0.1" in m or "[::1]" in m for m in _egress(stack, sid))


async def test_sends_without_a_connect_are_reported(make_stack: MakeStack) -> None:
    stack, sid, results = await _probe(make_stack)
    assert all(results[n] in UNREACHABLE for n in NOT_CONNECT), results
    await stack.settle()
    assert all(_named(_egress(stack, sid), n) for n in NOT_CONNECT), _egress(stack, sid)
