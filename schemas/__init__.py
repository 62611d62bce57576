"""Contracts of sandguard: policies, events, topics, the bus and store interfaces.

Imports nothing of ours; every component imports from here and from nowhere else
in the project, which keeps each component deployable alone.
"""

from schemas.bus import Bus, Consumer, Record, RecordBatch, batches_of
from schemas.codec import dead_letter, decode, encode
from schemas.events import (
    SCHEMA_VERSION,
    ActionOutcome,
    ActionResult,
    AuditCategory,
    AuditEvent,
    DeadLetter,
    Disposition,
    EnforcementAction,
    EnforcementCommand,
    Event,
    Evidence,
    LimitsSample,
    MetricSample,
    PolicyEvent,
    ProcessInfo,
    ProcessSnapshot,
    SocketCounts,
    Violation,
    ViolationActivity,
    new_event_id,
    now_ms,
    stable_id,
)
from schemas.exceptions import EventDecodeError, PolicyValidationError, SchemaError
from schemas.ocsf import from_ocsf, to_ocsf
from schemas.policy import (
    DetectionSettings,
    EscalationResponse,
    NetworkPolicy,
    PolicyMode,
    ResourceLimits,
    SecurityPolicy,
    load_policy,
    parse_policy,
    policy_from_dict,
)
from schemas.rules import RULE_IDS, RULES, RuleInfo
from schemas.store import ReportSource, Store
from schemas.topics import TOPICS, TopicSpec
from schemas.violations import (
    SecurityMetrics,
    SecurityViolation,
    SecurityViolationType,
    Severity,
    ViolationSeverity,
)

__all__ = [
    "RULES",
    "RULE_IDS",
    "SCHEMA_VERSION",
    "TOPICS",
    "ActionOutcome",
    "ActionResult",
    "AuditCategory",
    "AuditEvent",
    "Bus",
    "Consumer",
    "DeadLetter",
    "DetectionSettings",
    "Disposition",
    "EnforcementAction",
    "EnforcementCommand",
    "EscalationResponse",
    "Event",
    "EventDecodeError",
    "Evidence",
    "LimitsSample",
    "MetricSample",
    "NetworkPolicy",
    "PolicyEvent",
    "PolicyMode",
    "PolicyValidationError",
    "ProcessInfo",
    "ProcessSnapshot",
    "Record",
    "RecordBatch",
    "ReportSource",
    "ResourceLimits",
    "RuleInfo",
    "SchemaError",
    "SecurityMetrics",
    "SecurityPolicy",
    "SecurityViolation",
    "SecurityViolationType",
    "Severity",
    "SocketCounts",
    "Store",
    "TopicSpec",
    "Violation",
    "ViolationActivity",
    "ViolationSeverity",
    "batches_of",
    "dead_letter",
    "decode",
    "encode",
    "from_ocsf",
    "load_policy",
    "new_event_id",
    "now_ms",
    "parse_policy",
    "policy_from_dict",
    "stable_id",
    "to_ocsf",
]
