"""Network policies, enforced by the host, tried from inside sandboxes.

Traffic goes only to targets this test creates: a network namespace of its own with a
listener on a benchmarking address (198.18.0.0/15: public-looking, routed nowhere but
to that namespace), a container on Docker's default bridge (a private address), and a
listener on our bridge's gateway (the host itself).
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from sandbox import SandboxManager
from schemas import NetworkPolicy
from tests.conftest import BUSYBOX_IMAGE
from tests.integration.sandbox.conftest import MakeManager, inspect, quick_policy

SERVER = """
import socket, sys, threading
def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        c.sendall(b"ok-%d\\n" % port)
        c.close()
for p in (80, 8080):
    threading.Thread(target=serve, args=(p,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""


@dataclass(frozen=True)
class Target:
    address: str


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def public_target() -> Iterator[Target]:
    """A namespace with listeners on ports 80 and 8080 at 198.18.N.2, reached through a veth."""
    tag = secrets.token_hex(3)
    ns, host_if, ns_if = f"sgt{tag}", f"sgh{tag}", f"sgn{tag}"
    octet = int(tag[:2], 16)
    host_ip, target_ip = f"198.18.{octet}.1", f"198.18.{octet}.2"
    sh("ip", "netns", "add", ns)
    server = None
    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", ns)
        sh("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{target_ip}/30", "dev", ns_if)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, target_ip],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield Target(target_ip)
    finally:
        if server is not None:
            server.kill()
            server.wait(timeout=10)
            if server.stdout is not None:
                server.stdout.close()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=30, check=False)
        sh("ip", "netns", "del", ns)


@pytest.fixture(scope="module")
def private_target(docker_client: Any) -> Iterator[Target]:
    """A container of ours on Docker's default bridge, answering on port 80."""
    container = docker_client.containers.run(
        BUSYBOX_IMAGE,
        ["nc", "-ll", "-p", "80", "-e", "echo", "ok-80"],
        detach=True,
        labels={"sandguard.test.run": secrets.token_hex(6)},
    )
    try:
        container.reload()
        yield Target(container.attrs["NetworkSettings"]["IPAddress"])
    finally:
        container.remove(force=True)


class HostListener:
    """A listener on the host, on one address, counting connections."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket()
        self.sock.bind((address, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


async def reach(manager: SandboxManager, sid: str, address: str, port: int) -> bool:
    result = await manager.execute(sid, f"nc -w 1 {address} {port} </dev/null", timeout=10)
    return f"ok-{port}" in result.stdout


def gateway(docker_client: Any, network: str) -> str:
    return str(docker_client.api.inspect_network(network)["IPAM"]["Config"][0]["Gateway"])


async def test_restricted_allows_only_its_ports_to_public_addresses(
    make_manager: MakeManager, public_target: Target, private_target: Target, docker_client: Any
) -> None:
    manager = await make_manager(quick_policy(network_policy=NetworkPolicy.RESTRICTED))
    sid = await manager.create_sandbox()
    assert await reach(manager, sid, public_target.address, 80)
    assert not await reach(manager, sid, public_target.address, 8080)  # not an allowed port
    assert not await reach(manager, sid, private_target.address, 80)  # a private range
    host = HostListener(gateway(docker_client, f"sandguard-{manager.manager_id}-restricted"))
    try:
        result = await manager.execute(sid, f"nc -w 1 {host.sock.getsockname()[0]} {host.port} </dev/null")
        assert result.exit_code != 0 and host.accepted == 0  # the host is not the sandbox's to reach
    finally:
        host.close()
    custom = await manager.create_sandbox(
        policy=quick_policy(network_policy=NetworkPolicy.RESTRICTED, allowed_ports=(8080,))
    )
    assert await reach(manager, custom, public_target.address, 8080)
    assert not await reach(manager, custom, public_target.address, 80)


async def test_internal_has_no_route_out(
    make_manager: MakeManager, public_target: Target, docker_client: Any
) -> None:
    manager = await make_manager(quick_policy(network_policy=NetworkPolicy.INTERNAL))
    sid = await manager.create_sandbox()
    other = await manager.create_sandbox()
    assert not await reach(manager, sid, public_target.address, 80)
    other_ip = inspect(docker_client, other)["NetworkSettings"]["Networks"][
        f"sandguard-{manager.manager_id}-internal"
    ]["IPAddress"]
    await manager.execute(other, "nc -ll -p 8080 -e echo ok-8080 &", timeout=5)
    assert not await reach(manager, sid, other_ip, 8080)  # sandboxes do not see each other
    interfaces = (await manager.execute(sid, "ls /sys/class/net")).stdout.split()
    assert "lo" in interfaces and len(interfaces) == 2


async def test_full_is_an_ordinary_bridge(make_manager: MakeManager, public_target: Target) -> None:
    manager = await make_manager(quick_policy(network_policy=NetworkPolicy.FULL))
    sid = await manager.create_sandbox()
    assert await reach(manager, sid, public_target.address, 8080)


async def test_no_ipv6_in_networked_sandboxes(make_manager: MakeManager) -> None:
    manager = await make_manager(quick_policy(network_policy=NetworkPolicy.RESTRICTED))
    sid = await manager.create_sandbox()
    result = await manager.execute(sid, "cat /proc/sys/net/ipv6/conf/all/disable_ipv6; ip -6 addr")
    assert result.stdout.split()[0] == "1" and "inet6" not in result.stdout


async def test_host_rules_go_with_the_sandbox_and_the_manager(make_manager: MakeManager) -> None:
    manager = await make_manager(quick_policy(network_policy=NetworkPolicy.RESTRICTED))
    sid = await manager.create_sandbox()
    chain = f"SG-{manager.manager_id}-{sid[:12]}"
    assert chain in iptables()
    await manager.destroy_sandbox(sid)
    assert chain not in iptables() and f"SG-{manager.manager_id}-R" in iptables()
    await manager.cleanup()
    assert manager.manager_id not in iptables()


def iptables() -> str:
    return subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=True, timeout=30).stdout
