"""Factories for the sandbox unit tests: records and enforcement events with overridable defaults."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from sandbox.record import SandboxRecord
from sandbox.results import utc_now
from schemas import ActionOutcome, ActionResult, EnforcementAction, SecurityPolicy, Severity, Violation

CID = "c" * 64


@pytest.fixture
def make_record() -> Callable[..., SandboxRecord]:
    def make(**overrides: Any) -> SandboxRecord:
        now = utc_now()
        args: dict[str, Any] = {
            "sandbox_id": CID,
            "name": "sandguard-m1-0001",
            "image": "sandguard/busybox:1",
            "policy": SecurityPolicy(),
            "labels": {},
            "created_at": now,
            "expires_at": now + timedelta(minutes=5),
        }
        args.update(overrides)
        return SandboxRecord(**args)

    return make


@pytest.fixture
def make_action() -> Callable[..., ActionResult]:
    def make(**overrides: Any) -> ActionResult:
        args: dict[str, Any] = {
            "container_id": CID,
            "command_id": "cmd-1",
            "action": EnforcementAction.TERMINATE,
            "result": ActionOutcome.APPLIED,
            "reason": "fork bomb",
            "rule_ids": ("pids.limit_hit",),
            "violation_ids": ("v-1",),
            "command_time": 1_700_000_000_000,
            "time": 1_700_000_000_500,
        }
        args.update(overrides)
        return ActionResult(**args)

    return make


@pytest.fixture
def make_violation() -> Callable[..., Violation]:
    def make(**overrides: Any) -> Violation:
        args: dict[str, Any] = {
            "container_id": CID,
            "violation_id": "v-1",
            "rule_id": "pids.limit_hit",
            "violation_type": "resource_limit_exceeded",
            "severity": Severity.HIGH,
            "title": "Process limit hit",
            "message": "pids at max",
            "first_seen": 1,
            "last_seen": 2,
            "sample_time": 2,
        }
        args.update(overrides)
        return Violation(**args)

    return make
