"""Issue 17's defeats of command validation, each written before its defence.

Every line below deleted a file with ``rm`` blocked, on main before the fix (or is a
sibling of such a line: the same trick through another shell, wrapper or variable).
They must all be denied; the benign lines next to them must stay allowed, so the
defence does not cost everyday work. The same lines run in dash, bash and busybox ash
in tests/integration/sandbox/validation/test_shell_differential.py.
"""

from __future__ import annotations

import pytest

from common.commandline import UNSAFE_VARIABLES
from sandbox.exec_env import DENIED_NAMES
from sandbox.validation import check_command
from schemas import SecurityPolicy

POLICY = SecurityPolicy(blocked_commands={"rm", "kill"})

# (what the line does, the line)
DEFEATS: list[tuple[str, str]] = [
    # 1. here-document delimiters read differently by dash and by bash/ash
    ("heredoc-ansi-c", "cat <<$'EOF'\nEOF\nrm -f /work/victim.txt\n$EOF"),
    ("heredoc-locale", 'cat <<$"EOF"\nEOF\nrm -f /work/victim.txt\n$EOF'),
    ("heredoc-dollar", 'cat <<"$EOF"\nEOF\nrm -f /work/victim.txt\n$EOF'),
    # 2. login and interactive shells read profile files the sandbox can write
    ("login", "echo 'rm -f /work/victim.txt' > /work/.profile; sh -lc true"),
    ("login", "bash --login -c true"),
    ("login", "bash -l -c true"),
    ("login", "sh -c -l true"),
    ("login", "exec -l sh -c true"),
    ("login", "exec -a -sh sh -c true"),
    ("login", "su - -c true"),
    ("login", "su -l -c true"),
    ("login", "sudo -i true"),
    ("login", "sh -ic true"),
    ("login", "/work/-sh -c true"),
    # 2. variables that change what a name runs, in every assigning form
    ("bash-cmds", "bash -c 'BASH_CMDS=/usr/bin/rm; 0 -f /work/victim.txt'"),
    ("bash-cmds", "BASH_ALIASES=x true"),
    ("assign-expansion", "set -a; : ${BASH_ENV:=/work/e.sh}; bash -c true"),
    ("assign-expansion", "set -x; : ${PS4:='$(rm -f /work/victim.txt)'}; true"),
    ("assign-expansion", "unset PATH; : ${PATH:=/work/bin}; ls"),
    ("assign-expansion", ": ${PATH=/work/bin}; ls"),
    ("assign-expansion", 'echo "${ENV:=/work/e.sh}"'),
    ("assign-expansion", ": ${PROMPT_COMMAND:=x} ${BASH_LOADABLES_PATH:=/work}"),
    ("assign-expansion", "cat <<E\n${BASH_ENV:=/work/e.sh}\nE"),
    ("assign-expansion", ": ${LD_PRELOAD:=/work/x.so}"),
    ("shell-var", "SHELL=/work/rm flock /tmp/l -c true"),
    ("tar-options", "TAR_OPTIONS=--to-command=rm tar xf a.tar"),
    ("less-open", "LESSOPEN='|rm %s' less f"),
    # 2. program-running wrappers
    ("wrapper", "chrt -o 0 rm -f /work/victim.txt"),
    ("wrapper", "chrt --other 0 rm x"),
    ("wrapper", "linux64 rm -f /work/victim.txt"),
    ("wrapper", "linux32 -R rm x"),
    ("wrapper", "setarch x86_64 rm x"),
    ("wrapper", "x86_64 rm x"),
    ("wrapper", "i386 rm x"),
    ("wrapper", "prlimit --nofile=100 rm -f /work/victim.txt"),
    ("wrapper", "prlimit -n100 rm x"),
    ("wrapper", "setpriv rm -f /work/victim.txt"),
    ("wrapper", "setpriv --nnp rm x"),
    ("wrapper", "taskset 1 rm x"),
    ("wrapper", "taskset -c 0 rm x"),
    ("wrapper", "ionice -c 3 rm x"),
    ("wrapper", "stdbuf -o0 rm x"),
    ("wrapper", "timeout 5 rm x"),
    ("wrapper", "nohup rm x"),
    ("wrapper", "flock /tmp/l rm x"),
    ("wrapper", "unshare -r rm x"),
    ("wrapper", "unshare rm x"),
    ("wrapper", "unshare"),
    ("wrapper", "nsenter -t 1 -m rm x"),
    ("wrapper", "choom -n 100 rm x"),
    ("wrapper", "runcon u:r:t rm x"),
    ("wrapper", "runcon -t t rm x"),
    ("wrapper", "sg users 'rm x'"),
    ("wrapper", "sg users -c 'rm x'"),
    ("wrapper", "su -c 'rm x'"),
    ("wrapper", "start-stop-daemon -S -x /bin/rm -- -f x"),
    ("wrapper", "start-stop-daemon --start --startas /bin/rm -- x"),
    ("wrapper", "run-parts /work/d"),
    ("wrapper", "script -c 'rm x' /dev/null"),
    ("wrapper", "script -qc 'rm x'"),
    ("wrapper", "script"),
    ("wrapper", "xargs rm < list"),
    ("wrapper", "find . -exec rm {} ;"),
    ("wrapper", "uclampset -m 0 rm x"),
    ("wrapper", "cttyhack rm x"),
    ("wrapper", "logsave /tmp/l rm x"),
    ("wrapper", "ld.so /bin/rm x"),
    ("wrapper", "setsid -f rm x"),
    ("wrapper", "busybox rm x"),
    ("wrapper", "time rm x"),
    ("wrapper", "nice -n 5 rm x"),
    ("wrapper", "env rm x"),
    # programs that run commands named in an option or their program text
    ("tar", "tar --to-command=rm -xf a.tar"),
    ("tar", "tar -x --to-command 'rm' -f a.tar"),
    ("tar", "tar --checkpoint=1 --checkpoint-action=exec=rm -cf a.tar x"),
    ("tar", "tar -I rm -cf a.tar x"),
    ("tar", "tar xIf rm a.tar"),
    ("tar", "tar --use-compress-program=rm -cf a.tar x"),
    ("tar", "tar --info-script=rm -cf a.tar x"),
    ("tar", "tar --to-c=rm -xf a.tar"),
    ("sed", "sed e f.txt"),
    ("sed", "sed '1e rm x' f.txt"),
    ("sed", "sed 's/x/rm x/e' f.txt"),
    ("sed", "sed -n -e 's|a|b|ge' f.txt"),
    ("sed", "sed -f script.sed f.txt"),
    ("sed", "sed '/a/,/b/ { e rm x\n}' f.txt"),
    ("awk", "awk 'BEGIN { system(\"rm x\") }'"),
    ("awk", 'awk \'BEGIN { print "x" | "rm x" }\''),
    ("awk", "awk 'BEGIN { \"rm x\" | getline }'"),
    ("awk", "awk -f prog.awk f"),
    ("awk", "mawk 'BEGIN{system(\"rm x\")}'"),
    ("other", "sort --compress-program=rm f"),
    ("other", "split --filter='rm x' f"),
    ("other", "nc 127.0.0.1 1 -e /bin/rm x"),
    ("other", "nc -ll -p 8080 -e rm x"),
    ("other", "nc -c 'rm x' 127.0.0.1 1"),
    ("other", "httpd -p 8080"),
    ("other", "crond"),
    ("other", "telnetd -l /bin/rm"),
    ("other", "ed f.txt"),
    ("other", "dpkg --pre-invoke='rm x' -l"),
    ("other", "apt-get -o APT::Update::Pre-Invoke::=rm update"),
    ("other", "APT_CONFIG=/work/a.conf apt-get update"),
]

BENIGN: list[str] = [
    "cat <<'EOF'\nhello\nEOF",
    'cat <<"EOF"\nhello $x\nEOF',
    "cat <<EOF\n${name:-world}\nEOF",
    ": ${count:=0}; echo $count",
    'echo "${HOME:-/work}"',
    "bash -c 'echo hi'",
    "sh -ec 'ls'",
    "tar -czf out.tar.gz src",
    "tar xzf a.tar.gz -C /work/x",
    "tar -tvf a.tar",
    "sed -n 's/a/b/gp' f.txt",
    "sed -i.bak -e 's/old/new/' f.txt",
    "sed '/^#/d;s/[[:space:]]*$//' f.txt",
    "sed '1i\\\nheader' f.txt",
    "sed -E 's/(a|b)+/x/g' f.txt",
    "sed 'y/abc/xyz/' f.txt",
    "awk '{print $1}' f.txt",
    "awk -F: '$3 >= 1000 || /root/ {print $1}' /etc/passwd",
    "awk 'BEGIN{x=1} /a|b/ {n++} END{print n}' f",
    "awk -v OFS=, '{print $1, $2 / 2}' f",
    "sort -k2 -n f",
    "split -l 100 f part.",
    "timeout 5 python3 -c 'print(1)'",
    "prlimit --nofile=100 python3 x.py",
    "taskset -c 0 python3 x.py",
    "nohup python3 server.py",
    "stdbuf -oL python3 x.py",
    "chrt -o 0 python3 x.py",
    "setpriv --nnp python3 x.py",
    "xargs -n1 echo < list",
    "find . -name '*.py' -exec grep -l TODO {} +",
    "IFS=, read -r a b <<< 'x,y'",
    "nc -ll -p 8080 -e echo ok-8080",
    "nc -w 1 127.0.0.1 80",
]


@pytest.mark.parametrize(("kind", "line"), DEFEATS, ids=[f"{i:03d}-{k}" for i, (k, _) in enumerate(DEFEATS)])
def test_every_defeat_of_the_issue_is_denied(kind: str, line: str) -> None:
    decision = check_command(line, POLICY)
    assert not decision.allowed, f"{kind}: {line!r} was allowed ({decision.words})"
    assert decision.reason


@pytest.mark.parametrize("line", BENIGN)
def test_benign_work_next_to_the_defeats_stays_allowed(line: str) -> None:
    decision = check_command(line, POLICY)
    assert decision.allowed, f"{line!r}: {decision.reason}"


def test_one_list_of_dangerous_variables_for_commands_and_exec_env() -> None:
    assert UNSAFE_VARIABLES <= DENIED_NAMES
    assert {"BASH_CMDS", "BASH_ENV", "ENV", "PS4", "PATH", "PROMPT_COMMAND", "BASH_LOADABLES_PATH"} <= (
        UNSAFE_VARIABLES
    )


def test_wrapper_denial_names_the_program_it_runs() -> None:
    decision = check_command("chrt -o 0 rm -f /work/victim.txt", POLICY)
    assert decision.denied_word == "rm"
    assert decision.words == ("chrt", "rm")
