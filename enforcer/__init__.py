"""The enforcer: per-host, idempotent actions on sandboxes, each one an event.

One ``Enforcer`` per Docker host reads ``sandguard.enforcement``, acts on the
containers of its host through a ``DockerPort`` (``DockerEngine`` on the Docker SDK),
remembers every command in a durable ledger so replays and duplicates act once, and
publishes an ``ActionResult`` per command on ``sandguard.actions``.
"""

from enforcer.engine import DockerEngine
from enforcer.exceptions import (
    CommandRefusedError,
    ContainerNotFoundError,
    DockerActionError,
    DockerPortError,
    EnforcerError,
    EnforcerStateError,
    EngineUnavailableError,
    InvalidCommandError,
    LedgerError,
    NotASandboxError,
    ResultPublishError,
)
from enforcer.fake import FakeDocker
from enforcer.handler import CommandHandler, Handled, HandlerOptions, Inbound
from enforcer.ledger import Ledger, LedgerEntry, Position
from enforcer.metrics import EnforcerMetrics
from enforcer.plans import ContainerOperation, Plan, plan_action, throttle_resources
from enforcer.port import DockerPort, ObservedContainer
from enforcer.service import Enforcer, group_for

__all__ = [
    "CommandHandler",
    "CommandRefusedError",
    "ContainerNotFoundError",
    "ContainerOperation",
    "DockerActionError",
    "DockerEngine",
    "DockerPort",
    "DockerPortError",
    "Enforcer",
    "EnforcerError",
    "EnforcerMetrics",
    "EnforcerStateError",
    "EngineUnavailableError",
    "FakeDocker",
    "Handled",
    "HandlerOptions",
    "Inbound",
    "InvalidCommandError",
    "Ledger",
    "LedgerEntry",
    "LedgerError",
    "NotASandboxError",
    "ObservedContainer",
    "Plan",
    "Position",
    "ResultPublishError",
    "group_for",
    "plan_action",
    "throttle_resources",
]
