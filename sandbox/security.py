"""SandboxSecurityManager: the original security manager's public methods, for code
written against it, on the same components as SandboxManager.

Its mechanisms are ours: ``apply_security_policy`` re-applies what the engine can change
on a running container (memory, swap, CPU quota, pids) and reports what it cannot
(it never runs commands inside a container); monitoring is the pipeline's (collectors
and processors), switched on and off by publishing the container's policy; validation
is sandbox.validation; denied operations raise PermissionError subclasses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import structlog

from sandbox import audit
from sandbox.compliance import PolicyApplication, config_gaps
from sandbox.config import ROOTS, WORKSPACE, live_limits
from sandbox.exceptions import InvalidSandboxRequest, SandboxNotFound, SandboxOperationError
from sandbox.manager import SandboxManager
from sandbox.port import ContainerMissing, EngineError
from sandbox.report import merge_reports, policy_report
from sandbox.results import utc_now
from sandbox.validation import check_command, check_path
from schemas import Bus, ReportSource, SecurityPolicy

log = structlog.get_logger(__name__)


def _container_id(container: Any) -> str:
    """A container id from an id, a docker-py Container, or anything with ``.id``."""
    cid = container if isinstance(container, str) else getattr(container, "id", None)
    if not isinstance(cid, str) or not cid:
        raise InvalidSandboxRequest("container", f"not a container or container id: {container!r}")
    return cid


class SandboxSecurityManager:
    """``manager``: share a SandboxManager's sandboxes and bus; without one, a manager of
    its own is made on ``bus`` (and removed by ``cleanup``)."""

    def __init__(
        self,
        security_policy: SecurityPolicy | None = None,
        *,
        manager: SandboxManager | None = None,
        bus: Bus | None = None,
        docker_client: Any | None = None,
        reports: ReportSource | None = None,
        host: str | None = None,
    ) -> None:
        if manager is None:
            if bus is None:
                raise InvalidSandboxRequest(
                    "bus", "a bus (or a SandboxManager) is needed to publish policies"
                )
            manager = SandboxManager(
                security_policy, bus=bus, docker_client=docker_client, reports=reports, host=host
            )
            self._owns_manager = True
        else:
            self._owns_manager = False
        self.manager = manager
        self.security_policy = security_policy or manager.security_policy
        self._reports = reports
        self._monitored: dict[str, SecurityPolicy] = {}

    def _policy_of(self, container_id: str) -> SecurityPolicy:
        try:
            return self.manager.sandbox(container_id).policy
        except SandboxNotFound:
            return self._monitored.get(container_id, self.security_policy)

    async def apply_security_policy(
        self, container: Any, policy: SecurityPolicy | None = None
    ) -> PolicyApplication:
        """Re-applies the live limits to a running container and reports what differs
        from the policy but is fixed at creation."""
        cid = _container_id(container)
        policy = policy or self._policy_of(cid)
        engine = await self.manager.engine()
        body = live_limits(policy)
        try:
            await engine.port.update(cid, body)
            info = await engine.port.inspect(cid)
        except ContainerMissing as exc:
            raise SandboxNotFound(cid, "no such container") from exc
        except EngineError as exc:
            raise SandboxOperationError(cid, "apply_security_policy", exc.message) from exc
        internal = bool(info.get("HostConfig", {}).get("NetworkMode", "").endswith("-internal"))
        result = PolicyApplication(
            container_id=cid,
            policy_id=policy.policy_id,
            applied=body,
            gaps=tuple(config_gaps(policy, info, network_internal=internal)),
        )
        await self.manager.publisher.audit(
            audit.policy_change(
                cid,
                self.manager.host,
                "policy_applied",
                policy_id=policy.policy_id,
                applied=body,
                gaps=[g.model_dump(mode="json") for g in result.gaps],
            )
        )
        return result

    async def start_monitoring(self, container_id: str, policy: SecurityPolicy | None = None) -> None:
        """The pipeline judges the container from now on (its policy is published)."""
        await self._monitoring(container_id, policy, enabled=True)

    async def stop_monitoring(self, container_id: str) -> None:
        """The pipeline stops judging it (its policy is published with monitoring off)."""
        await self._monitoring(container_id, None, enabled=False)

    async def _monitoring(self, container_id: str, policy: SecurityPolicy | None, *, enabled: bool) -> None:
        host, publisher = self.manager.host, self.manager.publisher
        if self.manager.knows(container_id):
            record = self.manager.sandbox(container_id).record
            record.monitored = enabled
            chosen, name, image, labels = record.policy, record.name, record.image, record.labels
        else:  # a container the manager did not create: its policy is ours to keep
            chosen = policy or self._monitored.get(container_id, self.security_policy)
            name, image, labels = "", "", {}
            if enabled:
                self._monitored[container_id] = chosen
            else:
                self._monitored.pop(container_id, None)
        published = chosen.model_copy(update={"enable_monitoring": enabled and chosen.enable_monitoring})
        await publisher.policy(
            audit.policy_event(container_id, host, published, name=name, image=image, labels=labels)
        )
        action = "monitoring_started" if enabled else "monitoring_stopped"
        await publisher.audit(audit.policy_change(container_id, host, action, policy_id=published.policy_id))

    def validate_file_access(
        self, file_path: str, operation: Literal["read", "write", "list"] = "read", *, size: int | None = None
    ) -> bool:
        """Would the policy allow this path? (Text only; file operations of a sandbox also
        resolve symlinks inside it.)"""
        decision = check_path(
            file_path, self.security_policy, operation=operation, size=size, workspace=WORKSPACE, roots=ROOTS
        )
        return decision.allowed

    def validate_command_execution(self, command: str | Sequence[str]) -> bool:
        return check_command(command, self.security_policy).allowed

    async def get_security_report(self, container_id: str) -> dict[str, Any]:
        try:
            return await self.manager.get_security_report(container_id)
        except SandboxNotFound:
            pass  # not one of the manager's sandboxes: the policy we monitor it under
        report = policy_report(
            container_id,
            self._policy_of(container_id),
            monitored=container_id in self._monitored,
            monitored_containers=self.manager.monitored_count() + len(self._monitored),
            now=utc_now(),
        )
        if self._reports is None:
            return report
        return merge_reports(report, await self.manager.history(container_id))

    async def cleanup(self) -> None:
        for container_id in list(self._monitored):
            await self.stop_monitoring(container_id)
        if self._owns_manager:
            await self.manager.cleanup()
