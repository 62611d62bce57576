"""Process judgement: names against the policy's lists and the built-in ones, argv against reverse shells.

A process is known by three names that an attacker controls in different ways: the
basename of its executable (busybox applets all share ``busybox``), its ``comm`` (set by
the kernel from the executable, changeable with prctl) and ``argv[0]`` (anything). A
name list matches when any of the three is in it; an allowlist passes when any is in it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Network tools that a sandbox running agent code has no business with.
NETWORK_TOOLS = frozenset({
    "nc", "ncat", "netcat", "nc.openbsd", "nc.traditional", "socat", "nmap", "masscan", "zmap",
    "hping", "hping3", "telnet", "tcpdump", "tshark", "dumpcap", "ettercap", "proxychains",
    "proxychains4", "chisel", "ngrok", "frpc", "iodine", "dnscat", "dnscat2", "sshuttle",
})  # fmt: skip
# Known cryptocurrency miners.
MINERS = frozenset({
    "xmrig", "xmrig-notls", "minerd", "cpuminer", "cpuminer-multi", "cpuminer-opt", "cgminer",
    "bfgminer", "ethminer", "ccminer", "xmr-stak", "xmr-stak-cpu", "t-rex", "nbminer",
    "lolminer", "phoenixminer", "nanominer", "gminer", "srbminer", "srbminer-multi", "teamredminer",
    "nheqminer", "kawpowminer", "claymore",
})  # fmt: skip
SUSPICIOUS_TOOLS = NETWORK_TOOLS | MINERS

# Reverse-shell shapes in a command line (one alternation, compiled once; matched on the
# joined argv, lower-cased). Each line is one family seen in public payload collections,
# and each names a network endpoint or a socket: a shell word alone (`grep -e sh`,
# `bash -i`) is ordinary work. Only a LOW hint where no kernel events come (see
# processors.engine.revshell for the evidence-based rule).
_REVERSE_SHELL = re.compile(
    "|".join(
        (
            r"/dev/(?:tcp|udp)/",  # bash/ksh network redirections
            r"/inet6?/(?:tcp|udp)/",  # gawk network files
            r"\b(?:nc|ncat|netcat|nc\.traditional|nc\.openbsd)\b[^|;&]*\s-[a-z]*[ec]\b",  # nc -e / -c
            r"\bsocat\b.*\b(?:exec|system):",  # socat exec:/system:
            r"\bsocat\b.*\bpty\b",
            r"\b(?:python[0-9.]*|perl|ruby|php|lua|node)\b.*\bsocket\b.*"
            r"\b(?:subprocess|pty|dup2|exec|spawn|popen|connect|system|stdin)\b",
            r"\bruby\b.*-rsocket\b",
            r"\bphp\b.*\bfsockopen\b",
            r"\bmkfifo\b.*\b(?:nc|ncat|netcat|telnet|openssl)\b",
            r"\btelnet\b[^|]*\|\s*/?\S*sh\b",
            r"\bopenssl\s+s_client\b.*\|\s*/?\S*sh\b",
        )
    ),
    re.IGNORECASE,
)


def basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def process_names(exe: str | None, comm: str, argv0: str | None) -> tuple[str, ...]:
    """The distinct names a process is known by, most trustworthy first."""
    names = [basename(exe)] if exe else []
    if comm and comm not in names:
        names.append(comm)
    if argv0:
        a0 = basename(argv0.lstrip("-"))  # login shells run as "-bash"
        if a0 and a0 not in names:
            names.append(a0)
    return tuple(names)


def first_in(names: Iterable[str], listed: frozenset[str]) -> str | None:
    for n in names:
        if n in listed:
            return n
    return None


def is_reverse_shell(cmdline: str) -> bool:
    return _REVERSE_SHELL.search(cmdline) is not None
