# ruff: noqa: E501 - attack payloads are data, kept one per line to read as written
"""A second exec-bypass corpus, written without looking at the defence: ways to start a
blocked program from inside allowed ones (loader tricks, wrappers, interpreters' exec
families, fd and memory execs, renamed and symlinked names, odd paths and argv).

Each vector is an argv (no shell in between, so a policy that blocks the shells still
lets the vector's own first program start). ``VICTIM`` is a file the blocked rm would
delete; ``MARK`` a file a blocked shell would create (the shell also gets
``touch MARK`` on its stdin). The runner runs every vector of a corpus in ONE sandbox,
each preceded by an exec of ``true SEP-<n>`` so the test can tell which kernel events
and findings belong to which vector.
"""

from __future__ import annotations

LD_SO = "/lib64/ld-linux-x86-64.so.2"
# A path of 300 characters that still names /usr/bin (more than any fixed-size probe scans).
LONG_DIR = "/usr/bin" + "/." * 150
PY = "python3"

# rm blocked, python image.
RM_BYPASSES: dict[str, list[str]] = {
    "ld.so": [LD_SO, "/usr/bin/rm", "-f", "VICTIM"],
    "ld.so --argv0": [LD_SO, "--argv0", "ls", "/usr/bin/rm", "-f", "VICTIM"],
    "ld.so via /usr/bin/ld.so": ["/usr/bin/ld.so", "--inhibit-cache", "/usr/bin/rm", "-f", "VICTIM"],
    "ld.so through env": ["env", LD_SO, "/usr/bin/rm", "-f", "VICTIM"],
    "env -S": ["env", "-S", "rm -f VICTIM"],
    "env -i": ["env", "-i", "/usr/bin/rm", "-f", "VICTIM"],
    "find -execdir": ["find", "/work/notes.txt", "-execdir", "rm", "-f", "VICTIM", ";"],
    "find -exec +": ["find", "VICTIM", "-exec", "rm", "-f", "{}", "+"],
    "xargs -I": ["xargs", "-a", "/work/notes.txt", "-I{}", "-n1", "rm", "-f", "VICTIM"],
    "nice": ["nice", "-n", "5", "rm", "-f", "VICTIM"],
    "nohup": ["nohup", "rm", "-f", "VICTIM"],
    "stdbuf": ["stdbuf", "-o0", "rm", "-f", "VICTIM"],
    "flock": ["flock", "/tmp/lock", "rm", "-f", "VICTIM"],
    "ionice": ["ionice", "-c3", "rm", "-f", "VICTIM"],
    "unshare": ["unshare", "rm", "-f", "VICTIM"],
    "setpriv": ["setpriv", "--no-new-privs", "rm", "-f", "VICTIM"],
    "chrt": ["chrt", "-o", "0", "rm", "-f", "VICTIM"],
    "linux32": ["linux32", "rm", "-f", "VICTIM"],
    "prlimit": ["prlimit", "--nofile=64", "rm", "-f", "VICTIM"],
    "taskset": ["taskset", "1", "rm", "-f", "VICTIM"],
    "timeout --foreground": ["timeout", "--foreground", "5", "rm", "-f", "VICTIM"],
    "script -c": ["script", "-qec", "rm -f VICTIM", "/dev/null"],
    "run-parts --arg": ["run-parts", "--regex", "^rm$", "--arg=-f", "--arg=VICTIM", "/bin"],
    "python os.execv argv0": [PY, "-c", "import os; os.execv('/usr/bin/rm', ['ls', '-f', 'VICTIM'])"],
    "python os.execvp": [PY, "-c", "import os; os.execvp('rm', ['rm', '-f', 'VICTIM'])"],
    "python posix_spawn": [
        PY, "-c", "import os; p = os.posix_spawn('/usr/bin/rm', ['ls', '-f', 'VICTIM'], {}); os.waitpid(p, 0)",
    ],
    "python posix_spawnp": [
        PY, "-c", "import os; p = os.posix_spawnp('rm', ['x', '-f', 'VICTIM'], {}); os.waitpid(p, 0)",
    ],
    "python spawnv": [PY, "-c", "import os; os.spawnv(os.P_WAIT, '/usr/bin/rm', ['x', '-f', 'VICTIM'])"],
    "python subprocess executable=": [
        PY, "-c", "import subprocess; subprocess.run(['ls', '-f', 'VICTIM'], executable='/usr/bin/rm')",
    ],
    "python fexecve": [
        PY, "-c", "import os; fd = os.open('/usr/bin/rm', os.O_RDONLY); os.execve(fd, ['x', '-f', 'VICTIM'], {})",
    ],
    "python execveat AT_EMPTY_PATH": [
        PY, "-c",
        "import ctypes, os; fd = os.open('/usr/bin/rm', os.O_PATH); a = (ctypes.c_char_p * 4)(b'x', b'-f',"
        " b'VICTIM', None); ctypes.CDLL(None, use_errno=True).syscall(322, fd, b'', a, None, 0x1000)",
    ],
    "python /proc/self/fd": [
        PY, "-c", "import os; fd = os.open('/usr/bin/rm', os.O_RDONLY); os.execv(f'/proc/self/fd/{fd}', ['x', '-f', 'VICTIM'])",
    ],
    "python memfd_create": [
        PY, "-c",
        "import os; fd = os.memfd_create('ls', 0); os.write(fd, open('/usr/bin/rm', 'rb').read());"
        " os.execv(f'/proc/self/fd/{fd}', ['ls', '-f', 'VICTIM'])",
    ],
    "python thread execv": [
        PY, "-c",
        "import os, threading; t = threading.Thread(target=os.execv, args=('/usr/bin/rm', ['rm', '-f', 'VICTIM']));"
        " t.start(); t.join()",
    ],
    "python prctl comm then execv": [
        PY, "-c",
        "import ctypes, os; ctypes.CDLL(None).prctl(15, b'ls', 0, 0, 0); os.execv('/usr/bin/rm', ['ls', '-f', 'VICTIM'])",
    ],
    "python fork then execv": [
        PY, "-c", "import os\nif os.fork() == 0: os.execv('/usr/bin/rm', ['rm', '-f', 'VICTIM'])\nos.wait()",
    ],
    "python pty.spawn": [PY, "-c", "import pty; pty.spawn(['rm', '-f', 'VICTIM'])"],
    "python ctypes system": [PY, "-c", "import ctypes; ctypes.CDLL(None).system(b'rm -f VICTIM')"],
    "python os.popen": [PY, "-c", "import os; os.popen('rm -f VICTIM').read()"],
    "python long path": [PY, "-c", f"import os; os.execv('{LONG_DIR}/rm', ['rm', '-f', 'VICTIM'])"],
    "python long argv": [PY, "-c", "import os; os.execv('/usr/bin/rm', ['rm', '-f'] + ['-v'] * 3000 + ['VICTIM'])"],
    "python symlink with newline": [
        PY, "-c", "import os; os.symlink('/usr/bin/rm', '/tmp/a\\nb'); os.execv('/tmp/a\\nb', ['ls', '-f', 'VICTIM'])",
    ],
    "python symlink with unicode": [
        PY, "-c", "import os; os.symlink('/usr/bin/rm', '/tmp/\\u0433rep'); os.execv('/tmp/\\u0433rep', ['grep', '-f', 'VICTIM'])",
    ],
    "python symlink named ls": [
        PY, "-c", "import os; os.symlink('/usr/bin/rm', '/tmp/ls'); os.execv('/tmp/ls', ['ls', '-f', 'VICTIM'])",
    ],
    "python copy in /tmp (noexec)": [
        PY, "-c",
        "import os, shutil; shutil.copy('/usr/bin/rm', '/tmp/tidy'); os.chmod('/tmp/tidy', 0o755);"
        " os.execv('/tmp/tidy', ['tidy', '-f', 'VICTIM'])",
    ],
    "ld.so on a copy in /dev/shm": [
        PY, "-c",
        "import os, shutil; shutil.copy('/usr/bin/rm', '/dev/shm/tidy');"
        f" os.execv('{LD_SO}', ['ld.so', '/dev/shm/tidy', '-f', 'VICTIM'])",
    ],
    "perl exec block": ["perl", "-e", 'exec {"/usr/bin/rm"} "ls", "-f", "VICTIM"'],
    "perl system list": ["perl", "-e", 'system {"/usr/bin/rm"} "ls", "-f", "VICTIM"'],
    "perl open pipe list": ["perl", "-e", 'open(my $f, "-|", "rm", "-f", "VICTIM"); <$f>'],
    "perl backticks": ["perl", "-e", "`rm -f VICTIM`"],
    "mawk system": ["mawk", 'BEGIN { system("rm -f VICTIM") }'],
    "gawk getline pipe": ["gawk", 'BEGIN { "rm -f VICTIM" | getline x }'],
    "gawk print pipe": ["gawk", 'BEGIN { print "" | "rm -f VICTIM" }'],
    "sed s///e": ["sed", "-n", "1s|.*|rm -f VICTIM|ep", "/work/notes.txt"],
    "tar --to-command": ["tar", "-xf", "/work/notes.tar", "-C", "/tmp", "--to-command=rm -f VICTIM"],
    "tar -I": ["tar", "-cf", "/tmp/out.tar", "-I", "rm -f VICTIM", "/work/notes.txt"],
    "socat SYSTEM": ["socat", "-u", "OPEN:/dev/null", "SYSTEM:rm -f VICTIM"],
    "socat EXEC": ["socat", "-u", "OPEN:/dev/null", "EXEC:/usr/bin/rm -f VICTIM"],
    "bash exec -a": ["bash", "-c", "exec -a ls /usr/bin/rm -f VICTIM"],
    "bash command builtin": ["bash", "-c", "command rm -f VICTIM"],
    "bash symlink chain": ["bash", "-c", "ln -s /usr/bin/rm /tmp/l1 && ln -s /tmp/l1 /tmp/l2 && /tmp/l2 -f VICTIM"],
    "dash -c": ["dash", "-c", "rm -f VICTIM"],
}  # fmt: skip

# sh, bash, dash blocked, python image. MARK is created only if a shell ran.
SHELL_BYPASSES: dict[str, list[str]] = {
    "ld.so bash": [LD_SO, "/usr/bin/bash", "-c", "touch MARK"],
    "ld.so --argv0 dash": [LD_SO, "--argv0", "ls", "/usr/bin/dash", "-c", "touch MARK"],
    "ld.so through nice": ["nice", "/usr/bin/ld.so", "/bin/sh", "-c", "touch MARK"],
    "env -S": ["env", "-S", "sh -c 'touch MARK'"],
    "find -exec sh": ["find", "/work/notes.txt", "-exec", "sh", "-c", "touch MARK", ";"],
    "xargs sh": ["xargs", "-a", "/work/notes.txt", "-n1", "-I{}", "sh", "-c", "touch MARK"],
    "timeout": ["timeout", "5", "dash", "-c", "touch MARK"],
    "nice": ["nice", "bash", "-c", "touch MARK"],
    "setsid": ["setsid", "-w", "sh", "-c", "touch MARK"],
    "stdbuf": ["stdbuf", "-oL", "sh", "-c", "touch MARK"],
    "flock": ["flock", "/tmp/lock", "-c", "touch MARK"],
    "ionice": ["ionice", "-c3", "sh"],
    "unshare": ["unshare", "sh", "-c", "touch MARK"],
    "script": ["script", "-qec", "touch MARK", "/dev/null"],
    "run-parts": ["run-parts", "--regex", "^dash$", "--arg=-c", "--arg=touch MARK", "/usr/bin"],
    "python execv -sh": [PY, "-c", "import os; os.execv('/bin/sh', ['-sh', '-c', 'touch MARK'])"],
    "python posix_spawn": [
        PY, "-c", "import os; p = os.posix_spawn('/bin/dash', ['ls', '-c', 'touch MARK'], {}); os.waitpid(p, 0)",
    ],
    "python subprocess shell=True": [PY, "-c", "import subprocess; subprocess.run('touch MARK', shell=True)"],
    "python fexecve": [
        PY, "-c", "import os; fd = os.open('/bin/bash', os.O_RDONLY); os.execve(fd, ['x', '-c', 'touch MARK'], {})",
    ],
    "python memfd dash": [
        PY, "-c",
        "import os; fd = os.memfd_create('ls', 0); os.write(fd, open('/bin/dash', 'rb').read());"
        " os.execv(f'/proc/self/fd/{fd}', ['ls', '-c', 'touch MARK'])",
    ],
    "python symlink named ls": [
        PY, "-c", "import os; os.symlink('/bin/dash', '/tmp/ls'); os.execv('/tmp/ls', ['ls', '-c', 'touch MARK'])",
    ],
    "python thread execv": [
        PY, "-c",
        "import os, threading; threading.Thread(target=os.execv, args=('/bin/sh', ['sh', '-c', 'touch MARK'])).start()",
    ],
    "python long path": [PY, "-c", f"import os; os.execv('{LONG_DIR}/bash', ['bash', '-c', 'touch MARK'])"],
    "perl exec list": ["perl", "-e", 'exec {"/bin/sh"} "-sh", "-c", "touch MARK"'],
    "perl system list": ["perl", "-e", 'system("/bin/bash", "-c", "touch MARK")'],
    "mawk system": ["mawk", 'BEGIN { system("touch MARK") }'],
    "gawk getline": ["gawk", 'BEGIN { "touch MARK" | getline }'],
    "sed e": ["sed", "-n", "1e touch MARK", "/work/notes.txt"],
    "tar --to-command": ["tar", "-xf", "/work/notes.tar", "-C", "/tmp", "--to-command=touch MARK"],
    "tar checkpoint-action exec": [
        "tar", "-cf", "/dev/null", "/work/notes.txt", "--checkpoint=1", "--checkpoint-action=exec=touch MARK",
    ],
    "socat SYSTEM": ["socat", "-u", "OPEN:/dev/null", "SYSTEM:touch MARK"],
    "socat EXEC sh": ["socat", "-u", "OPEN:/dev/null", "EXEC:sh -c 'touch MARK'"],
    "rbash": ["rbash", "-c", "touch MARK"],
    "zgrep (a #! sh script of the image)": ["zgrep", "-q", "x", "/work/notes.txt.gz"],
    "nsenter": ["nsenter", "sh", "-c", "touch MARK"],
    "newgrp": ["newgrp"],
}  # fmt: skip

# rm blocked, busybox image (every program is busybox: judged by the applet it runs).
# Run by the image's sh, one `sh -c` per line.
BUSYBOX_BYPASSES: dict[str, str] = {
    "applet by name": "rm -f VICTIM",
    "busybox rm": "busybox rm -f VICTIM",
    "/bin/busybox rm": "/bin/busybox rm -f VICTIM",
    "busybox busybox rm": "/bin/busybox busybox rm -f VICTIM",
    "exec -a -rm": "exec -a -rm /bin/busybox -f VICTIM",
    "exec -a /x/rm": "exec -a /x/y/rm /bin/busybox -f VICTIM",
    "exec -a long argv0": "exec -a " + "/" * 150 + "rm /bin/busybox -f VICTIM",
    "env": "env rm -f VICTIM",
    "env busybox": "env /bin/busybox rm -f VICTIM",
    "xargs": "echo VICTIM | xargs rm -f",
    "find -exec": "find VICTIM -exec rm -f {} ';'",
    "nice": "nice rm -f VICTIM",
    "nohup": "nohup rm -f VICTIM",
    "setsid": "setsid rm -f VICTIM",
    "timeout": "timeout 5 rm -f VICTIM",
    "chroot /": "chroot / rm -f VICTIM",
    "awk system": "awk 'BEGIN { system(\"rm -f VICTIM\") }'",
    "symlink in /tmp": "ln -s /bin/busybox /tmp/rm && /tmp/rm -f VICTIM",
    "symlink named busybox": "ln -s /bin/busybox /tmp/busybox && /tmp/busybox rm -f VICTIM",
    "sh -c in sh": "sh -c 'rm -f VICTIM'",
    "busybox sh -c": "busybox sh -c 'command rm -f VICTIM'",
    "ash": "ash -c 'rm -f VICTIM'",
    "ld.so busybox rm": f"{LD_SO} /bin/busybox rm -f VICTIM",
    "ld.so /bin/rm": f"{LD_SO} /bin/rm -f VICTIM",
    "ld.so --argv0 rm busybox": f"{LD_SO} --argv0 rm /bin/busybox -f VICTIM",
}  # fmt: skip

# The python image's runner: argv vectors from JSON, each after an exec of `true SEP-<n>`;
# prints `[n, exit code, ran]` per vector (ran: the victim is gone or the mark exists).
PY_RUNNER = """\
import gzip
import json
import os
import subprocess
import sys
import tarfile

with tarfile.open("/work/notes.tar", "w") as tf:
    tf.add("/work/notes.txt", "notes.txt")
open("/work/notes.txt.gz", "wb").write(gzip.compress(open("/work/notes.txt", "rb").read()))
os.makedirs("/work/v", exist_ok=True)
os.makedirs("/work/m", exist_ok=True)
for i, argv in enumerate(json.load(open(sys.argv[1]))):
    victim, mark = f"/work/v/{i}", f"/work/m/{i}"
    open(victim, "w").write("precious\\n")
    subprocess.run(["/usr/bin/true", f"SEP-{i}"])
    uses_victim = any("VICTIM" in a for a in argv)
    argv = [a.replace("VICTIM", victim).replace("MARK", mark) for a in argv]
    try:
        rc = subprocess.run(argv, cwd="/work", input=f"touch {mark}\\nexit\\n".encode(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20).returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    ran = not os.path.exists(victim) if uses_victim else os.path.exists(mark)
    print(json.dumps([i, rc, ran]), flush=True)
subprocess.run(["/usr/bin/true", "SEP-end"])
"""
# The busybox image's runner: the same, one `sh -c` per line.
SH_RUNNER = """\
mkdir -p /tmp/v
i=0
while IFS= read -r line; do
  victim=/tmp/v/$i
  echo precious > "$victim"
  /bin/busybox true "SEP-$i"
  cmd=$(printf '%s' "$line" | sed "s#VICTIM#$victim#g")
  (cd /work && sh -c "$cmd" </dev/null >/dev/null 2>&1)
  rc=$?
  if [ -e "$victim" ]; then ran=false; else ran=true; fi
  echo "[$i, $rc, $ran]"
  i=$((i+1))
done < "$1"
/bin/busybox true SEP-end
"""
