"""Odd text never costs an audit event (issue 17).

A lone surrogate in a command (``rm -f /work/f1.txt # \\udcff``) was still refused, but
its audit event failed to encode and was dropped; allowed commands with such text were
not audited either. Both must now reach the bus, with the text escaped.
"""

from __future__ import annotations

import pytest

from sandbox import CommandDeniedError
from sandguard.bus import LocalBus
from schemas import AuditCategory, AuditEvent
from schemas import topics as t
from tests.conftest import BUSYBOX_IMAGE, PYTHON_IMAGE
from tests.integration.sandbox.conftest import MakeManager, drain, quick_policy

REFUSALS = 8


@pytest.mark.parametrize("image", [PYTHON_IMAGE, BUSYBOX_IMAGE])
async def test_refusals_and_runs_with_lone_surrogates_are_all_audited(
    make_manager: MakeManager, bus: LocalBus, image: str
) -> None:
    audit = await bus.consumer([t.AUDIT], group="test-odd-text")
    manager = await make_manager(quick_policy(), image=image)
    sid = await manager.create_sandbox()
    for i in range(REFUSALS):
        with pytest.raises(CommandDeniedError):
            await manager.execute(sid, f"rm -f /work/f{i}.txt # \udcff")
    result = await manager.execute(sid, "echo ok # \udcff", timeout=10)
    assert result.stdout == "ok\n"
    events = [e for _, e in await drain(audit, t.AUDIT) if isinstance(e, AuditEvent)]
    execs = [e for e in events if e.category is AuditCategory.EXEC]
    denied = [e for e in execs if e.allowed is False]
    assert len(denied) == REFUSALS and all((e.subject or "").endswith("# \\udcff") for e in denied)
    allowed = [e for e in execs if e.allowed]
    assert len(allowed) == 1 and allowed[0].subject == "echo ok # \\udcff"
    assert (
        manager.metrics.registry.get_sample_value("sandguard_sandbox_errors_total", {"kind": "publish"})
        is None
    )
