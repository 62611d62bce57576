"""The enforcer's public surface, pinned: a change here is a change of the API."""

from __future__ import annotations

import enforcer


def test_public_names() -> None:
    assert enforcer.__all__ == [
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
    for name in enforcer.__all__:
        assert getattr(enforcer, name) is not None


def test_every_error_has_one_root() -> None:
    for name in enforcer.__all__:
        obj = getattr(enforcer, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, enforcer.EnforcerError), name


def test_both_engines_satisfy_the_port() -> None:
    assert isinstance(enforcer.FakeDocker(), enforcer.DockerPort)
    assert set(dir(enforcer.DockerPort)) & {"inspect", "update", "pause", "unpause", "stop", "remove"} == {
        "inspect",
        "update",
        "pause",
        "unpause",
        "stop",
        "remove",
    }
