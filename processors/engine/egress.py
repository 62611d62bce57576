"""Connections from kernel events: egress the network policy forbids, and connections
counted against ``max_network_connections``.

Loopback is never egress: a sandbox talking to itself (127.0.0.0/8, ::1) leaves nothing.
What each policy forbids mirrors what the host's rules hold (DESIGN.md principle 2):
``none`` any other address; ``internal`` anything outside the private ranges, and
link-local (cloud metadata); ``restricted`` private ranges, link-local, and ports outside
``allowed_ports``; ``full`` nothing. A refused or unreachable connect is still an attempt
and is reported with its result.

TCP state changes (phase ``state``) tell what became of a connect: SYN_SENT ->
ESTABLISHED is a connection the far end accepted (a forbidden destination is then
reported again as established: egress that happened, not only tried), CLOSE ends it, and
SYN_SENT -> CLOSE is a non-blocking connect that failed. Only a connection that may exist
(connect returned 0 or EINPROGRESS, and did not fail since) marks its process as
connected for the reverse-shell evidence: a refused connect followed by a shell is not a
shell over a connection.
Connections are counted by their local port and destination, from the connect or the
ESTABLISHED change, whichever comes first (the tracer may deliver them in either order),
and uncounted at CLOSE.
"""

from __future__ import annotations

import ipaddress

from processors.engine import kernel_evidence, proctable, revshell
from processors.engine.findings import StepRun
from processors.engine.record import record
from processors.engine.state import MAX_CONNS, ContainerState
from schemas import ConnectEvent, NetworkPolicy

# connect's errno values after which the connection exists (or will): 0, EINPROGRESS (115).
OPEN_RESULTS = frozenset({0, 115})
CLOSED_STATES = frozenset({"CLOSE", "TIME_WAIT", "CLOSE_WAIT", "LAST_ACK", "FIN_WAIT1", "FIN_WAIT2"})
ESTABLISHED, SYN_SENT = "ESTABLISHED", "SYN_SENT"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
V4_BITS = 0xFFFFFFFF  # the low 32 bits of an IPv6 address: where NAT64 and ::a.b.c.d carry IPv4
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052's well-known prefix
# Cloud metadata services that are not link-local: AWS's IPv6 IMDS (a ULA, private) and
# Alibaba's (shared address space). Forbidden under every policy, like 169.254/16.
METADATA = frozenset({ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")})


def on_connect(run: StepRun, ev: ConnectEvent) -> None:
    if ev.phase == "state":
        _state_change(run, ev)
        return
    addr = parse(ev.daddr)
    dest = destination(ev)
    if addr is not None and not is_local(addr):
        why = forbidden(run, addr, ev.dport)
        if why is not None:
            _report_egress(run, ev, dest, why)
    if ev.result is not None and ev.result not in OPEN_RESULTS:
        return  # refused, unreachable...: an attempt, but no connection to run a shell over
    _count(run, ev)
    c = proctable.connected(run.state, ev.pid, ev.comm or ev.exe.rsplit("/", 1)[-1], ev.time, dest)
    revshell.on_connect(run, ev, c)


def canonical(text: str) -> str:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return f"::ffff:{addr.ipv4_mapped}"
    return str(addr)


def parse(text: str) -> Address | None:
    """The address a connect really reaches: an IPv6 address that carries an IPv4 one
    (mapped ``::ffff:a.b.c.d``, 6to4 ``2002:aabb:ccdd::``, NAT64 ``64:ff9b::a.b.c.d``,
    the old compatible ``::a.b.c.d``) is judged as that IPv4 address, so the metadata
    address or a private range cannot hide in IPv6 clothing."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        return embedded_v4(addr) or addr
    return addr


def embedded_v4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    low = ipaddress.IPv4Address(int(addr) & V4_BITS)
    if addr in NAT64 or (int(addr) >> 32 == 0 and int(low) > 1):
        return low
    return None


def is_local(addr: Address) -> bool:
    return addr.is_loopback or addr.is_unspecified


def destination(ev: ConnectEvent) -> str:
    """``host:port`` with the address in its canonical text (``[::ffff:192.0.2.2]``, not
    the ``0:0:0:0:0:ffff:c000:202`` of history the bpftrace collector wrote; the collector
    now writes canonical text), so one destination is one subject."""
    text = canonical(ev.daddr)
    host = f"[{text}]" if ev.family == "inet6" else text
    return f"{host}:{ev.dport}"


def forbidden(run: StepRun, addr: Address, port: int) -> str | None:
    """Why the policy forbids this destination, or None."""
    pol = run.ctx.policy
    if pol.network is NetworkPolicy.NONE:
        return "network policy none allows no connection beyond loopback"
    if addr.is_link_local or addr in METADATA:
        return f"network policy {pol.network.value} blocks link-local and cloud metadata addresses"
    if pol.network is NetworkPolicy.INTERNAL and not addr.is_private:
        return "network policy internal allows no route out"
    if pol.network is NetworkPolicy.RESTRICTED:
        return _restricted(addr, port, pol.allowed_ports)
    return None


def _restricted(addr: Address, port: int, allowed_ports: frozenset[int]) -> str | None:
    if addr.is_private:
        return "network policy restricted blocks private ranges"
    if not addr.is_global:
        return "network policy restricted blocks non-public ranges (shared, reserved)"
    if port not in allowed_ports:
        return f"network policy restricted allows ports {sorted(allowed_ports)} only"
    return None


def _report_egress(run: StepRun, ev: ConnectEvent, dest: str, why: str) -> None:
    pid = ev.ns_pid if ev.ns_pid is not None else ev.pid
    result = "" if ev.result is None else f", connect returned {_errno(ev.result)}"
    if ev.phase == "state":
        result = ", connection ESTABLISHED"
    who = f"{ev.comm or ev.exe or '?'} (pid {pid})" if pid else "a process"
    message = f"{who} connected to {dest} ({ev.protocol}): {why}{result}"
    record(run, "network.egress_denied", dest, ev.time, message=message,
           evidence=kernel_evidence.of_connect(ev, why))  # fmt: skip


def _errno(result: int) -> str:
    return {0: "0 (connected)", 115: "EINPROGRESS"}.get(result, f"errno {result}")


def _key(ev: ConnectEvent) -> str:
    """One connection: the local port and the destination (a connect and the state
    changes of its socket share them; the connect does not know its local address)."""
    if ev.sport:
        return f"{ev.protocol}:{ev.sport}>{destination(ev)}"
    return f"{ev.pid}>{ev.daddr}:{ev.dport}@{ev.ktime_ns or ev.time}"


def _count(run: StepRun, ev: ConnectEvent) -> None:
    conns = run.state.conns
    key = _key(ev)
    if key in conns:
        if ev.pid:
            conns[key] = ev.pid
        return  # seen already (the connect and its ESTABLISHED, in either order)
    conns[key] = ev.pid
    if len(conns) > MAX_CONNS:
        del conns[next(iter(conns))]
    limit = run.ctx.policy.max_connections
    if len(conns) > limit:
        message = (
            f"{len(conns)} connections open, more than max_network_connections ({limit}); "
            f"latest to {destination(ev)}"
        )
        record(run, "network.connections", "connections", ev.time, message=message,
               evidence=kernel_evidence.of_connect(ev))  # fmt: skip


def _state_change(run: StepRun, ev: ConnectEvent) -> None:
    new = (ev.new_state or "").removeprefix("TCP_")
    if new in CLOSED_STATES and ev.sport:
        pid = run.state.conns.pop(_key(ev), None)
        if (ev.old_state or "").removeprefix("TCP_") == SYN_SENT:  # the connect failed after all
            proctable.not_connected(run.state, pid or ev.pid, destination(ev))
    elif (
        new == ESTABLISHED and (ev.old_state or "").removeprefix("TCP_") == SYN_SENT
    ):  # outgoing: the far end accepted
        addr = parse(ev.daddr)
        if addr is not None and not is_local(addr):
            why = forbidden(run, addr, ev.dport)
            if why is not None:
                _report_egress(run, ev, destination(ev), why)
        _count(run, ev)


def forget_pid(state: ContainerState, pid: int) -> None:
    """A process gone: connections only it knew of close with it (sockets it handed to a
    child are undercounted then, never overcounted)."""
    for k in [k for k, p in state.conns.items() if p == pid]:
        del state.conns[k]
