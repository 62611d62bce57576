"""The egress vectors, as one script run inside a sandbox with network policy ``none``:
each way to send to an address beyond loopback, and each way to open a connection to the
sandbox's own listeners on 127.0.0.0/8 and ::1 where it has IPv6 (counted against max_network_connections).

Safety: the script first checks that loopback is the sandbox's only interface (policy
``none``) and refuses to run otherwise; with no route, a connect or send to the TEST-NET
addresses below fails at once with ENETUNREACH: no packet leaves the namespace.
"""

from __future__ import annotations

# Documentation addresses (RFC 5737, RFC 3849): never routed.
OUTSIDE = {
    "tcp4": "192.0.2.1:80",
    "tcp6": "[2001:db8::1]:80",
    "tcp mapped": "[::ffff:192.0.2.2]:80",
    "udp connect": "192.0.2.3:53",
    "udp sendto": "192.0.2.4:53",
    "tcp fastopen sendto": "192.0.2.5:443",
}
SCRIPT = """\
import errno
import socket
import time

ifaces = [l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:]]
if ifaces != ["lo"]:
    raise SystemExit(f"HAS-NETWORK {ifaces}: refusing to probe egress")
MSG_FASTOPEN = 0x20000000
results = {}


def attempt(name, fn):
    try:
        fn()
        results[name] = "sent"
    except OSError as exc:
        results[name] = errno.errorcode.get(exc.errno, str(exc.errno))


def tcp(family, addr):
    return lambda: socket.socket(family).connect(addr)


attempt("tcp4", tcp(socket.AF_INET, ("192.0.2.1", 80)))
attempt("tcp6", tcp(socket.AF_INET6, ("2001:db8::1", 80)))
attempt("tcp mapped", tcp(socket.AF_INET6, ("::ffff:192.0.2.2", 80)))
attempt("udp connect", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).connect(("192.0.2.3", 53)))
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
attempt("udp sendto", lambda: udp.sendto(b"q", ("192.0.2.4", 53)))
attempt("tcp fastopen sendto", lambda: socket.socket().sendto(b"GET", MSG_FASTOPEN, ("192.0.2.5", 443)))
attempt("raw socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
attempt("packet socket", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))

# Connections to its own listeners, held open together.
v4 = socket.create_server(("0.0.0.0", 0))  # loopback only: lo is the only interface
p4 = v4.getsockname()[1]
held = [socket.create_connection(("127.0.0.1", p4)) for _ in range(3)]
try:  # the sandbox may have no IPv6 at all (then ::1 cannot even be bound)
    v6 = socket.create_server(("::1", 0), family=socket.AF_INET6)
    held.append(socket.create_connection(("::1", v6.getsockname()[1])))
except OSError:
    held.append(socket.create_connection(("127.0.0.2", p4)))
mapped = socket.socket(socket.AF_INET6)
mapped.connect(("::ffff:127.0.0.1", p4))
held.append(mapped)
tfo = socket.socket()
tfo.sendto(b"hello", MSG_FASTOPEN, ("127.0.0.1", p4))
held.append(tfo)
time.sleep(1)
print("RESULTS", results, len(held))
"""
