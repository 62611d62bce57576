"""Connections from kernel events in a real sandbox (loopback inside its own namespace):
counted against max_network_connections, and never egress."""

from __future__ import annotations

from tests.integration.detection.conftest import MakeStack, detection_policy

CLIENTS = 6
# Opens CLIENTS connections to its own listener on 127.0.0.1 and holds them a moment.
HOLD_PY = f"""\
import socket
import time

srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen({CLIENTS})
port = srv.getsockname()[1]
clients = [socket.create_connection(("127.0.0.1", port)) for _ in range({CLIENTS})]
time.sleep(2)
print(len(clients))
"""
FINDING_TIMEOUT_S = 15


async def test_connections_over_the_limit_are_counted_and_loopback_is_not_egress(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(detection_policy(limits={"max_network_connections": 3}, violation_threshold=100))
    m = stack.manager
    sid = await m.create_sandbox()
    await m.write_file(sid, "/work/hold.py", HOLD_PY)
    run = await m.execute(sid, "python3 /work/hold.py", timeout=30)
    assert run.stdout.strip() == str(CLIENTS)
    found = await stack.wait_for(
        "network.connections",
        lambda: [v for v in stack.seen.violations(sid) if v.rule_id == "network.connections"],
        FINDING_TIMEOUT_S,
    )
    assert "more than max_network_connections (3)" in found[0].message
    assert "127.0.0.1:" in found[0].message
    await stack.settle()
    assert [v for v in stack.seen.violations(sid) if v.rule_id == "network.egress_denied"] == []
