"""Host rules of the network policies, as the scripts iptables-restore receives."""

from __future__ import annotations

import ipaddress

import pytest

from sandbox.firewall import BLOCKED_RANGES, BridgeRules, SandboxRules, dispatch_chain, sandbox_chain


def rules(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("-")]


def test_a_restricted_bridge_drops_by_default_and_never_reaches_the_host() -> None:
    b = BridgeRules("sgabcdef01r", "SG-abcdef01-R")
    assert rules(b.install()) == [
        "-A SG-abcdef01-R -j DROP",
        "-I DOCKER-USER 1 -i sgabcdef01r -j SG-abcdef01-R",
        "-I INPUT 1 -i sgabcdef01r -j DROP",
    ]
    assert rules(b.remove()) == [
        "-D INPUT -i sgabcdef01r -j DROP",
        "-D DOCKER-USER -i sgabcdef01r -j SG-abcdef01-R",
        "-F SG-abcdef01-R",
        "-X SG-abcdef01-R",
    ]
    assert b.install().startswith("*filter\n") and b.install().rstrip().endswith("COMMIT")


def test_an_internal_bridge_only_shuts_the_host_out() -> None:
    b = BridgeRules("sgabcdef01i", None)
    assert rules(b.install()) == ["-I INPUT 1 -i sgabcdef01i -j DROP"]
    assert rules(b.remove()) == ["-D INPUT -i sgabcdef01i -j DROP"]


def test_a_sandbox_reaches_only_public_addresses_on_its_ports() -> None:
    s = SandboxRules("SG-m-R", "SG-m-c", "172.30.0.5", (53, 80, 443))
    got = rules(s.install())
    drops = [f"-A SG-m-c -d {net} -j DROP" for net in BLOCKED_RANGES]
    assert got[: len(drops)] == drops
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"} <= set(
        BLOCKED_RANGES
    )
    assert got[len(drops) :] == [
        "-A SG-m-c -p tcp -m multiport --dports 53,80,443 -j RETURN",
        "-A SG-m-c -p udp -m multiport --dports 53,80,443 -j RETURN",
        "-A SG-m-c -j DROP",
        "-I SG-m-R 1 -s 172.30.0.5/32 -g SG-m-c",  # goto: an allowed packet returns to DOCKER-USER
    ]
    assert rules(s.remove()) == ["-D SG-m-R -s 172.30.0.5/32 -g SG-m-c", "-F SG-m-c", "-X SG-m-c"]


def test_many_ports_are_split_by_the_multiport_limit() -> None:
    s = SandboxRules("SG-m-R", "SG-m-c", "172.30.0.5", tuple(range(1000, 1020)))
    port_rules = [r for r in rules(s.install()) if "multiport" in r]
    assert len(port_rules) == 4 and "1000,1001" in port_rules[0] and "1015,1016" in port_rules[2]


def test_no_ports_means_no_egress() -> None:
    got = rules(SandboxRules("SG-m-R", "SG-m-c", "172.30.0.5", ()).install())
    assert not any("multiport" in r for r in got) and "-A SG-m-c -j DROP" in got


@pytest.mark.parametrize("address", ["172.30.0.0/16", "0.0.0.0/0", "fe80::1", "-j ACCEPT"])
def test_only_one_address_is_accepted(address: str) -> None:
    with pytest.raises(ValueError):
        SandboxRules("SG-m-R", "SG-m-c", address, (80,))


def test_chain_names_fit_iptables() -> None:
    assert len(sandbox_chain("abcdef01", "f" * 64)) <= 28
    assert dispatch_chain("abcdef01") == "SG-abcdef01-R"


# Cloud metadata endpoints that are not link-local (sandbox-gaps.md, redexec): the
# detection rule reports them; the host rules must hold them as well.
METADATA_V4 = ["169.254.169.254", "100.100.100.200", "169.254.170.2", "100.64.0.1"]


@pytest.mark.parametrize("address", METADATA_V4)
def test_metadata_endpoints_that_are_not_link_local_are_dropped_too(address: str) -> None:
    """Alibaba's 100.100.100.200 is shared space (RFC 6598), not link-local: dropped all the
    same. The IPv6 ones (fd00:ec2::254, 6to4 2002:a9fe:a9fe::, NAT64 64:ff9b::a9fe:a9fe)
    have no stack to leave by: every networked sandbox runs with IPv6 disabled
    (test_config.test_networked_sandboxes_join_the_network_without_ipv6)."""
    assert any(ipaddress.ip_address(address) in ipaddress.ip_network(net) for net in BLOCKED_RANGES)
