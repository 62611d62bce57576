"""Host rules of the network policies (DESIGN.md principle 2), as iptables-restore scripts.

A sandbox holds no NET_ADMIN, so its network is ruled from the host:

* every bridge of ours drops what its sandboxes send to the host itself (INPUT): the
  host's services are not theirs to reach;
* a RESTRICTED bridge sends what its sandboxes forward into a chain of ours, jumped to
  from DOCKER-USER. That chain dispatches by source address to one chain per sandbox,
  and drops everything else, so a sandbox whose rules are not in place yet (or no
  longer) reaches nothing. A sandbox's chain drops private, shared, link-local (cloud
  metadata) and reserved ranges, lets the policy's ports through, and drops the rest.
  An allowed packet returns to DOCKER-USER (``-g``: goto, not jump) and Docker's own
  rules carry on.

Each script is applied with ``iptables-restore --noflush``: one process and one atomic
transaction per change. Pure text here; ``IptablesRunner`` runs it.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from sandbox.exceptions import NetworkSetupError

log = structlog.get_logger(__name__)

# Never reachable from a RESTRICTED sandbox (RFC 1918 private, RFC 6598 shared/CGNAT,
# RFC 3927 link-local incl. 169.254.169.254 metadata, "this network", multicast,
# reserved and broadcast). Loopback never crosses a bridge. IPv6 is off in sandboxes.
BLOCKED_RANGES = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "0.0.0.0/8",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
# iptables' multiport match takes at most 15 ports per rule.
MULTIPORT_MAX = 15
# Seconds iptables-restore waits for the xtables lock (parallel creates and other tools).
LOCK_WAIT_S = 10
RESTORE_TIMEOUT_S = 30


@dataclass(frozen=True, slots=True)
class BridgeRules:
    """The host rules of one bridge of ours; ``dispatch`` is None for an INTERNAL bridge
    (Docker's internal network already has no route out)."""

    bridge: str
    dispatch: str | None

    def install(self) -> str:
        lines = ["*filter"]
        if self.dispatch:
            lines += [
                f":{self.dispatch} - [0:0]",
                f"-A {self.dispatch} -j DROP",
                f"-I DOCKER-USER 1 -i {self.bridge} -j {self.dispatch}",
            ]
        lines += [f"-I INPUT 1 -i {self.bridge} -j DROP", "COMMIT", ""]
        return "\n".join(lines)

    def remove(self) -> str:
        lines = ["*filter", f"-D INPUT -i {self.bridge} -j DROP"]
        if self.dispatch:
            lines += [
                f"-D DOCKER-USER -i {self.bridge} -j {self.dispatch}",
                f"-F {self.dispatch}",
                f"-X {self.dispatch}",
            ]
        return "\n".join([*lines, "COMMIT", ""])


def _port_rules(chain: str, ports: Sequence[int]) -> list[str]:
    rules = []
    for i in range(0, len(ports), MULTIPORT_MAX):
        group = ",".join(str(p) for p in ports[i : i + MULTIPORT_MAX])
        for proto in ("tcp", "udp"):
            rules.append(f"-A {chain} -p {proto} -m multiport --dports {group} -j RETURN")
    return rules


@dataclass(frozen=True, slots=True)
class SandboxRules:
    """The egress rules of one RESTRICTED sandbox, by its address on the bridge."""

    dispatch: str
    chain: str
    address: str
    ports: tuple[int, ...]

    def __post_init__(self) -> None:
        ipaddress.IPv4Address(self.address)  # refuses anything that is not one address

    def install(self) -> str:
        c = self.chain
        lines = ["*filter", f":{c} - [0:0]"]
        lines += [f"-A {c} -d {net} -j DROP" for net in BLOCKED_RANGES]
        lines += _port_rules(c, self.ports)
        lines += [f"-A {c} -j DROP", f"-I {self.dispatch} 1 -s {self.address}/32 -g {c}", "COMMIT", ""]
        return "\n".join(lines)

    def remove(self) -> str:
        return "\n".join(
            [
                "*filter",
                f"-D {self.dispatch} -s {self.address}/32 -g {self.chain}",
                f"-F {self.chain}",
                f"-X {self.chain}",
                "COMMIT",
                "",
            ]
        )


def dispatch_chain(manager_id: str) -> str:
    return f"SG-{manager_id}-R"


def sandbox_chain(manager_id: str, container_id: str) -> str:
    # 3 + 8 + 1 + 12 = 24 characters: iptables allows 28.
    return f"SG-{manager_id}-{container_id[:12]}"


class IptablesRunner:
    """Applies scripts with ``iptables-restore --noflush`` (one transaction each)."""

    def __init__(self, binary: str = "iptables-restore") -> None:
        self.binary = binary

    async def apply(self, script: str, *, network_policy: str = "restricted") -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                self.binary,
                "--noflush",
                "-w",
                str(LOCK_WAIT_S),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            async with asyncio.timeout(RESTORE_TIMEOUT_S):
                _, err = await proc.communicate(script.encode())
        except (OSError, TimeoutError) as exc:
            raise NetworkSetupError(network_policy, f"{self.binary}: {exc}") from exc
        if proc.returncode != 0:
            raise NetworkSetupError(network_policy, f"{self.binary}: {err.decode(errors='replace').strip()}")

    async def apply_each(self, script: str) -> int:
        """Applies each rule of a removal script in its own transaction, so rules already
        gone do not keep the others in place; returns how many failed (each logged)."""
        failed = 0
        for line in script.splitlines():
            if not line.startswith("-"):
                continue
            try:
                await self.apply(f"*filter\n{line}\nCOMMIT\n", network_policy="cleanup")
            except NetworkSetupError as exc:
                failed += 1
                log.warning("rule_removal_failed", rule=line, error=exc.reason)
        return failed
