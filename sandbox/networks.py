"""Docker networks and host rules behind each network policy, per manager.

NONE: no network at all. INTERNAL: a Docker ``internal`` bridge (no route out) with
inter-container traffic off and the host unreachable. RESTRICTED: a bridge whose
egress goes through our host chains (sandbox.firewall), installed before any sandbox
joins it and per sandbox as soon as its address is known. FULL: Docker's ordinary
``bridge``. Networks are made on first use, labelled, and removed by close().
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import structlog

from sandbox.exceptions import NetworkSetupError
from sandbox.firewall import BridgeRules, IptablesRunner, SandboxRules, dispatch_chain, sandbox_chain
from sandbox.labels import RESOURCE
from sandbox.port import EngineError, SandboxEngine
from schemas import NetworkPolicy

log = structlog.get_logger(__name__)

FULL_NETWORK = "bridge"
_SUFFIX = {NetworkPolicy.INTERNAL: "i", NetworkPolicy.RESTRICTED: "r"}


class Networks:
    def __init__(
        self,
        port: SandboxEngine,
        *,
        manager_id: str,
        labels: Mapping[str, str],
        runner: IptablesRunner | None = None,
    ) -> None:
        self._port = port
        self._manager_id = manager_id
        self._labels = {**labels, RESOURCE: "network"}
        self._runner = runner or IptablesRunner()
        self._made: dict[NetworkPolicy, tuple[str, BridgeRules]] = {}
        self._lock = asyncio.Lock()

    def name(self, policy: NetworkPolicy) -> str:
        return f"sandguard-{self._manager_id}-{policy.value}"

    async def network_for(self, policy: NetworkPolicy) -> str | None:
        """The network a sandbox under ``policy`` joins (None: no network), made if needed."""
        if policy is NetworkPolicy.NONE:
            return None
        if policy is NetworkPolicy.FULL:
            return FULL_NETWORK
        async with self._lock:
            if policy not in self._made:
                self._made[policy] = await self._make(policy)
        return self._made[policy][0]

    async def _make(self, policy: NetworkPolicy) -> tuple[str, BridgeRules]:
        name = self.name(policy)
        bridge = f"sg{self._manager_id}{_SUFFIX[policy]}"  # at most 15 characters (IFNAMSIZ)
        rules = BridgeRules(
            bridge, dispatch_chain(self._manager_id) if policy is NetworkPolicy.RESTRICTED else None
        )
        options = {"com.docker.network.bridge.name": bridge, "com.docker.network.bridge.enable_icc": "false"}
        try:
            await self._port.create_network(
                name, internal=policy is NetworkPolicy.INTERNAL, options=options, labels=self._labels
            )
        except EngineError as exc:
            raise NetworkSetupError(policy.value, f"creating network {name}: {exc.message}") from exc
        try:
            await self._runner.apply(rules.install(), network_policy=policy.value)
        except NetworkSetupError:
            await self._remove_network(name)
            raise
        log.info("network_created", network=name, bridge=bridge, policy=policy.value)
        return name, rules

    async def attach(
        self, container_id: str, policy: NetworkPolicy, ports: tuple[int, ...]
    ) -> SandboxRules | None:
        """Installs a RESTRICTED sandbox's egress rules (until then it reaches nothing)."""
        if policy is not NetworkPolicy.RESTRICTED:
            return None
        name = self.name(policy)
        info = await self._port.inspect(container_id)
        address = info["NetworkSettings"]["Networks"].get(name, {}).get("IPAddress")
        if not address:
            raise NetworkSetupError(policy.value, f"sandbox {container_id[:12]} has no address on {name}")
        rules = SandboxRules(
            dispatch_chain(self._manager_id), sandbox_chain(self._manager_id, container_id), address, ports
        )
        await self._runner.apply(rules.install(), network_policy=policy.value)
        return rules

    async def detach(self, rules: SandboxRules | None) -> None:
        if rules is not None:
            await self._remove_rules(rules.remove())

    async def close(self) -> None:
        """Removes every network and bridge rule this manager made."""
        async with self._lock:
            made, self._made = self._made, {}
        for name, rules in made.values():
            await self._remove_rules(rules.remove())
            await self._remove_network(name)

    async def _remove_rules(self, script: str) -> None:
        try:
            await self._runner.apply(script)
        except NetworkSetupError as exc:
            # Typically already gone (a host firewall reload); each rule is tried alone
            # so one missing rule does not leave the others behind.
            log.warning("rules_removal_retried_one_by_one", error=exc.reason)
            await self._runner.apply_each(script)

    async def _remove_network(self, name: str) -> None:
        try:
            await self._port.remove_network(name)
        except EngineError as exc:
            log.exception("network_removal_failed", network=name, error=str(exc))
            raise NetworkSetupError("cleanup", f"removing network {name}: {exc.message}") from exc
