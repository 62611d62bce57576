"""Connections from kernel events: egress per network policy, and the connection count.

Addresses here are strings in events; nothing is sent anywhere."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from schemas import ConnectEvent, NetworkPolicy
from tests.unit.processors.conftest import Feed, kconnect, kexit

PUBLIC = "8.8.8.8"  # a global address as text: the unit tests send nothing


def _egress(f: Feed) -> list[str]:
    return [v.message for v in f.violations if v.rule_id == "network.egress_denied"]


@pytest.mark.parametrize(
    ("policy", "daddr", "dport", "denied"),
    [
        (NetworkPolicy.NONE, "127.0.0.1", 4444, False),  # loopback inside the sandbox
        (NetworkPolicy.NONE, "127.3.2.1", 80, False),
        (NetworkPolicy.NONE, "::1", 80, False),
        (NetworkPolicy.NONE, "::ffff:127.0.0.1", 80, False),
        (NetworkPolicy.NONE, "0.0.0.0", 80, False),  # connect to 0.0.0.0 is local
        (NetworkPolicy.NONE, "10.0.0.1", 80, True),
        (NetworkPolicy.NONE, PUBLIC, 53, True),
        (NetworkPolicy.INTERNAL, "172.18.0.5", 5432, False),  # a peer on the internal network
        (NetworkPolicy.INTERNAL, PUBLIC, 443, True),
        (NetworkPolicy.INTERNAL, "169.254.169.254", 80, True),  # metadata
        (NetworkPolicy.RESTRICTED, PUBLIC, 443, False),
        (NetworkPolicy.RESTRICTED, PUBLIC, 22, True),
        (NetworkPolicy.RESTRICTED, "10.1.2.3", 443, True),
        (NetworkPolicy.RESTRICTED, "169.254.169.254", 80, True),
        (NetworkPolicy.RESTRICTED, "2001:4860:4860::8888", 443, False),
        (NetworkPolicy.FULL, PUBLIC, 22, False),
    ],
)
def test_egress_per_network_policy(
    feed: Callable[..., Feed], policy: NetworkPolicy, daddr: str, dport: int, denied: bool
) -> None:
    f = feed(network_policy=policy, allowed_ports=(53, 80, 443))
    f(kconnect(1, 10, daddr, dport, comm="python3", result=101 if denied else 0))
    messages = _egress(f)
    assert len(messages) == int(denied), messages
    if denied:
        v = f.violations[0]
        assert v.severity.value == "high" and v.violation_type.value == "network_violation"
        assert f"{daddr}:{dport}" in messages[0] or f"[{daddr}]:{dport}" in messages[0]
        assert "errno 101" in messages[0]
        assert v.evidence.samples[0]["daddr"] == daddr


def test_one_finding_per_destination_with_a_count(feed: Callable[..., Feed]) -> None:
    f = feed()
    f(*(kconnect(1 + i, 10, "10.0.0.1", 80, result=101) for i in range(3)), kconnect(5, 10, "10.0.0.2", 80))
    assert f.state is not None
    counts = {v.subject: v.count for v in f.state.findings.values() if v.rule_id == "network.egress_denied"}
    assert counts == {"10.0.0.1:80": 3, "10.0.0.2:80": 1}


def _c(t: float, pid: int, sport: int, **kw: object) -> ConnectEvent:
    return kconnect(t, pid, "127.0.0.1", 8000, saddr="127.0.0.1", sport=sport, **kw)


def test_connections_counted_against_the_limit(feed: Callable[..., Feed]) -> None:
    f = feed(limits={"max_network_connections": 2})
    f(_c(1, 10, 40001), _c(1.1, 10, 40002))
    assert f.violations == []
    f(_c(1.2, 11, 40003))
    assert [(v.rule_id, v.message.split(";")[0]) for v in f.violations] == [
        ("network.connections", "3 connections open, more than max_network_connections (2)")
    ]


def test_closed_and_failed_connections_do_not_count(feed: Callable[..., Feed]) -> None:
    f = feed(limits={"max_network_connections": 1})
    f(_c(1, 10, 40001), _c(1.1, 10, 40001, phase="state", old_state="TCP_ESTABLISHED", new_state="TCP_CLOSE"))
    f(_c(1.2, 10, 40002), kconnect(1.3, 10, "127.0.0.1", 9, result=111))  # refused
    assert f.violations == []
    f(kexit(2, 10), _c(2.1, 12, 40003))  # the exit took pid 10's connection with it
    assert f.violations == [] and f.state is not None and len(f.state.conns) == 1


def _state(
    t: float, old: str, new: str, daddr: str = "127.0.0.1", sport: int = 40001, pid: int = 0
) -> ConnectEvent:
    """A TCP state change: often in softirq, where no process of the sandbox runs (pid 0)."""
    return kconnect(t, pid, daddr, 8000, saddr="10.9.0.2", sport=sport, phase="state", old_state=old,
                    new_state=new, result=None)  # fmt: skip


def test_an_established_egress_is_reported_as_happened(feed: Callable[..., Feed]) -> None:
    f = feed(network_policy=NetworkPolicy.NONE)
    f(kconnect(1, 10, "10.0.0.1", 8000, sport=40001, comm="python3", result=115))
    assert "EINPROGRESS" in _egress(f)[-1]
    f(_state(1.1, "SYN_SENT", "ESTABLISHED", daddr="10.0.0.1"))
    assert f.state is not None
    [finding] = [v for v in f.state.findings.values() if v.rule_id == "network.egress_denied"]
    assert finding.count == 2 and "connection ESTABLISHED" in finding.message


def test_a_connection_counts_once_whichever_event_comes_first(feed: Callable[..., Feed]) -> None:
    f = feed(limits={"max_network_connections": 1})
    f(_state(1, "SYN_SENT", "ESTABLISHED", sport=40001), _c(1.1, 10, 40001))  # state first
    f(_c(1.2, 10, 40002), _state(1.3, "SYN_SENT", "ESTABLISHED", sport=40002))  # connect first
    assert f.state is not None and len(f.state.conns) == 2
    assert set(f.state.conns.values()) == {10}  # the connect names the process a softirq change could not
    f(_state(2, "FIN_WAIT2", "CLOSE", sport=40001), _state(2.1, "SYN_SENT", "CLOSE", sport=40002))
    assert f.state.conns == {}


def test_an_accepted_connection_is_not_an_outgoing_one(feed: Callable[..., Feed]) -> None:
    f = feed(network_policy=NetworkPolicy.NONE, limits={"max_network_connections": 0})
    f(_state(1, "SYN_RECV", "ESTABLISHED", daddr="10.0.0.1"), _state(1.1, "CLOSE", "LISTEN", daddr="0.0.0.0"))
    assert f.violations == []
