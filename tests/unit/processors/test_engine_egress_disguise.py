"""Destinations in disguise: IPv4 carried inside IPv6 (mapped, 6to4, NAT64, compatible),
cloud metadata that is not link-local, ranges that are neither private nor public.
Addresses here are strings in events; nothing is sent anywhere."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from processors.engine.egress import parse
from schemas import NetworkPolicy
from tests.unit.processors.conftest import Feed, kconnect

INTERNAL, RESTRICTED, NONE = NetworkPolicy.INTERNAL, NetworkPolicy.RESTRICTED, NetworkPolicy.NONE


@pytest.mark.parametrize(
    ("text", "judged_as"),
    [
        ("::ffff:169.254.169.254", "169.254.169.254"),
        ("2002:a9fe:a9fe::1", "169.254.169.254"),  # 6to4
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),  # NAT64 well-known prefix
        ("::a00:1", "10.0.0.1"),  # IPv4-compatible (deprecated)
        ("::1", "::1"),
        ("::", "::"),
        ("2001:4860:4860::8888", "2001:4860:4860::8888"),
    ],
)
def test_ipv4_inside_ipv6_is_judged_as_ipv4(text: str, judged_as: str) -> None:
    assert str(parse(text)) == judged_as


@pytest.mark.parametrize(
    ("policy", "daddr", "dport", "denied"),
    [
        (INTERNAL, "64:ff9b::a9fe:a9fe", 80, True),  # metadata through NAT64
        (INTERNAL, "2002:a9fe:a9fe::1", 80, True),  # metadata through 6to4
        (INTERNAL, "fd00:ec2::254", 80, True),  # AWS IMDS over IPv6: a ULA
        (INTERNAL, "100.100.100.200", 80, True),  # Alibaba metadata: shared space
        (INTERNAL, "fd12:3456::1", 5432, False),  # a private IPv6 peer
        (RESTRICTED, "100.64.1.1", 443, True),  # CGNAT: not public
        (RESTRICTED, "198.18.0.1", 443, True),  # benchmarking range
        (RESTRICTED, "::ffff:10.1.2.3", 443, True),
        (RESTRICTED, "64:ff9b::808:808", 443, False),  # a public address through NAT64
        (NONE, "::ffff:127.0.0.1", 80, False),
    ],
)
def test_disguised_destinations_per_policy(
    feed: Callable[..., Feed], policy: NetworkPolicy, daddr: str, dport: int, denied: bool
) -> None:
    f = feed(network_policy=policy, allowed_ports=(53, 80, 443))
    f(kconnect(1, 10, daddr, dport, comm="python3", result=101 if denied else 0))
    assert len([v for v in f.violations if v.rule_id == "network.egress_denied"]) == int(denied)


def test_a_destination_is_named_in_canonical_text(feed: Callable[..., Feed]) -> None:
    f = feed(network_policy=NONE)
    f(kconnect(1, 10, "0:0:0:0:0:ffff:c000:202", 80, comm="python3", result=101),
      kconnect(2, 10, "2001:db8:0:0:0:0:0:1", 80, comm="python3", result=99))  # fmt: skip
    messages = sorted(v.message for v in f.violations if v.rule_id == "network.egress_denied")
    assert ["[2001:db8::1]:80" in messages[0], "[::ffff:192.0.2.2]:80" in messages[1]] == [True, True]
