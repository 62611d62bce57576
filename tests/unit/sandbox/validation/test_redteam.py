"""The second red-team of command validation: attacks its defences were not written for.

Each DEFEAT ran a blocked program in a real shell of the images while validation allowed
it (tests/integration/sandbox/test_boundary_attacks.py shows each one deleting a file when
run around the API, and refused through it). HELD lines are the tricks tried in the same
round that were already refused: evidence, kept so they stay refused. BENIGN lines are
everyday work next to the defences, which must stay allowed.
"""

from __future__ import annotations

import time

import pytest

from common.commandline import analyse
from sandbox.validation import MAX_COMMAND_BYTES, check_command
from schemas import SecurityPolicy

POLICY = SecurityPolicy(blocked_commands={"rm", "kill"})
# Each refusal below takes under 0.02 s here; the margin is for a loaded machine.
FAIL_FAST_S = 2.0
LENIENT = SecurityPolicy(blocked_commands={"rm", "kill"}, allow_workspace_exec=True)

# (what, line): allowed before the fix, and each runs rm in bash, dash or busybox ash.
DEFEATS: list[tuple[str, str]] = [
    # a program named by a path where the sandbox can make links: any program, any name
    ("symlink", "ln -sf /usr/bin/rm /work/del; /work/del -f /work/victim"),
    ("symlink", "cd /work && ln -sf /usr/bin/rm del && ./del -f victim"),
    ("symlink", "ln -s /usr/bin/rm /tmp/python3; /tmp/python3 -f /work/victim"),
    ("symlink", "env /work/del -f x"),
    ("symlink", "find /work -maxdepth 0 -exec ./del {} +"),
    # '..' after a link: lexically /usr/bin/ls, really /tmp/usr/bin/ls, a link to rm
    ("symlink-dotdot", "ln -sfn /tmp/a/b /work/l; /work/l/../../usr/bin/ls -f /work/victim"),
    # a descriptor of /usr/bin/rm run through /proc or /dev
    ("fd-exec", "exec 3</usr/bin/rm; /proc/self/fd/3 -f /work/victim"),
    ("fd-exec", "exec 3</usr/bin/rm; /dev/fd/3 -f /work/victim"),
    ("fd-exec", "/usr/../proc/self/fd/3 x"),
    ("fd-exec", "/proc/self/exe -c true"),
    # bash builtins that run commands
    ("jobs-x", "bash -c 'jobs -x rm -f /work/victim'"),
    ("jobs-x", "jobs -lx rm x"),
    ("compgen", "bash -c \"compgen -C 'rm -f /work/victim' x\""),
    ("compgen", "compgen -W '$(rm -f x)' y"),
    ("compgen", "complete -C 'rm x' ls"),
    ("bind", "bind -x '\"\\C-a\": rm x'"),
    # history expansion rewrites a later line from an earlier one
    ("history", "bash -c 'set -o history -H\n: rm -f /work/victim\n!:1 !:2 !:3'"),
    ("history", "set -H"),
    ("history", "set -o histexpand"),
    ("history", "bash -H -o history -c true"),
    ("history", "bash -o histexpand -c true"),
    ("history", "shopt -s -o histexpand"),
    # a value read at run time, parsed by declare as an array assignment: subscripts run code
    ("declare-compound", "bash -c 'read -r v < /work/v.txt; declare -a x=\"$v\"'"),
    ("declare-compound", "read -r v < f; typeset x=$v"),
    ("declare-compound", "declare -A m='([k]=1)'"),
    ("declare-compound", 'local x="$1"'),
    # PATH changed by what is not an assignment: without it bash and dash search the
    # working directory ('unset PATH'), a number is a relative directory ('wait -p',
    # '{PATH}>f' assigns a descriptor number), and bash without PATH in its environment
    # searches '.' last
    ("unset-path", "bash -c 'cd /work && ln -sf /usr/bin/rm ls; unset PATH; ls -f victim'"),
    ("unset-path", "unset -v PATH"),
    ("wait-p", "sleep 0 & wait -n -p PATH; ls"),
    ("wait-p", "wait -npPATH"),
    ("fd-variable", "exec {PATH}>/dev/null; ls"),
    ("fd-variable", ": {PATH}</dev/null"),
    ("fd-variable", "env {x}>f rm y"),
    ("pathless-bash", "cd /work && ln -sf /usr/bin/rm del && env -i bash -c 'del -f victim'"),
    ("pathless-bash", "env -i sh -c 'bash -c del'"),
    ("pathless-bash", "env -u PATH nice bash -c x"),
    ("pathless-bash", "env - bash -c x"),
    ("pathless-bash", "exec -c bash -c x"),
    # programs of the images that run commands named in their arguments or files
    ("socat", "socat -u OPEN:/dev/null SYSTEM:'rm -f /work/victim'"),
    ("socat", "socat - EXEC:rm"),
    ("socat", "socat - 'exec:rm x'!!STDOUT"),
    ("diff3", "diff3 --diff-program=/usr/bin/rm a b c"),
    ("diff3", "diff3 --diff=rm a b c"),
    ("mim", "cd /work && mim -f M"),
    ("awk-indirect", 'gawk \'BEGIN{f="system"; @f("rm -f /work/victim")}\''),
    ("awk-indirect", 'gawk \'BEGIN{f="sys" "tem"; @ f("rm x")}\''),
    # GNU sed ends a label at ';': the command after it runs
    ("sed-label", "sed ':a;e' /work/c.txt"),
    ("sed-label", "sed 'b a;e' f"),
    ("sed-label", "sed 's/a/b/;T;e' f"),
    ("sed-label", "sed -e 't' -e 'e' f"),
    ("awk-include", "gawk '@include \"/work/lib\"' f"),
    ("pager", "PAGER='rm -f /work/victim' zmore /work/f.gz"),
    ("pager", "export MANPAGER=x EDITOR=y"),
    ("service", "/usr/sbin/service ../../usr/bin/rm -f /work/victim"),
    ("service", "invoke-rc.d ../../usr/bin/rm start"),
    ("debconf", "debconf /usr/bin/rm -f /work/victim"),
    ("debconf", "debconf-apt-progress -- rm x"),
    ("make", "make -f /work/M"),
]

# Tried in the same round, already refused: kept as evidence.
HELD: list[tuple[str, str]] = [
    ("alias", "shopt -s expand_aliases; alias x=rm; x y"),
    ("function", "ls() { rm -f /work/victim; }; ls"),
    ("function", "function command { rm y; }"),
    ("prefix", "command rm x"),
    ("prefix", "builtin exec rm x"),
    ("prefix", "exec -a ls rm x"),
    ("eval", "a=r; b=m; eval $a$b x"),
    ("ansi-c", "$'\\x72m' x"),
    ("slice", "x=arm; ${x:1} y"),
    ("brace", "{r,}m x"),
    ("glob", "/bin/r? x"),
    ("glob", "/???/r[m] x"),
    ("substitution", "$(printf rm) x"),
    ("arithmetic", "x='a[$(rm y)]'; echo $((x))"),
    ("arithmetic", "echo $[x]"),
    ("ifs", "IFS=_; c=rm_x; $c"),
    ("here-string", "sh <<< 'rm x'"),
    ("process-substitution", ". <(echo rm x)"),
    ("process-substitution", "bash <(echo rm x)"),
    ("trap", "trap 'rm x' EXIT"),
    ("prompt", "PROMPT_COMMAND='rm x' bash -ic true"),
    ("hash", "hash -p /usr/bin/rm ls; ls x"),
    ("enable", "enable -f /work/x.so rm"),
    ("source", "echo 'rm x' > /work/s; . /work/s"),
    ("read", "read c; $c x"),
    ("printf-v", "printf -v PATH /work"),
    ("nameref", "declare -n r=PATH; r=/work"),
    ("array", 'a=(rm x); "${a[@]}"'),
    ("indirection", "x=PATH; echo ${!x}"),
    ("bash-aliases", "BASH_ALIASES[x]=rm"),
    ("coproc", "coproc rm x"),
    ("mapfile", "mapfile -C 'rm x' -c 1 a < f"),
    ("continuation", "r\\\nm x"),
    ("carriage-return", "rm\r x"),
    ("nul", "echo a\0; rm x"),
    ("env-split", "env -S 'rm x'"),
    ("env-split", "env --split-string=rm x"),
    ("timeout", "timeout -s KILL 5 rm x"),
    ("nice", "nice -n 5 -- rm x"),
    ("xargs", "echo x | xargs -I{} rm {}"),
    ("find", "find . -execdir rm {} \\;"),
    ("busybox", "busybox rm x"),
    ("busybox", "/bin/busybox sh -c 'rm x'"),
    ("loader", "/lib64/ld-linux-x86-64.so.2 /usr/bin/rm x"),
    ("awk", "awk 'BEGIN{system(\"rm x\")}'"),
    ("tar", "tar -cf /dev/null f --checkpoint=1 --checkpoint-action=exec='rm x'"),
    ("sed", "sed -n '1e rm x' f"),
    ("fc", "fc -s rm"),
]

BENIGN = [
    "ls -la /work",
    "/usr/bin/env python3 -c 'print(1)'",
    "/usr/bin/../bin/ls /work",
    "/bin/ls",
    "/usr/local/bin/python3 -c 1",
    "cd /work && ls",
    "jobs",
    "jobs -l",
    "set -e",
    "set -o pipefail",
    "shopt -s nullglob",
    "declare x=1",
    "declare -a x",
    'readonly r="$v"',
    'export X="$v"',
    "socat - TCP:127.0.0.1:8080",
    "diff3 a b c",
    "exec 3</work/data.txt; cat <&3",
    "exec {fd}>/work/log.txt",
    "unset x y",
    "unset -f f",
    "wait $!",
    "wait -n",
    "env -i sh -c 'echo $PATH'",
    "env -i ls",
    "env -i true; bash -c true",
    "service ssh status",
    "debconf -o pkg ls",
    "awk -F, '{print $1 \"@\" $2}' f.csv",
    "sed ':a;N;$!ba;s/\\n/ /g' f",
    "sed '/x/b end; s/a/b/; :end' f",
    "awk '/a@b/ {n++} END {print n}' f",
]


# (what, line, allowed): every attack refused with a reason, every benign line allowed.
CASES = [(what, line, False) for what, line in DEFEATS + HELD] + [("benign", line, True) for line in BENIGN]


@pytest.mark.parametrize(("what", "line", "allowed"), CASES)
def test_each_attack_is_refused_and_benign_work_allowed(what: str, line: str, allowed: bool) -> None:
    decision = check_command(line, POLICY)
    assert decision.allowed is allowed, f"{what}: {line!r} -> {decision}"
    assert allowed or decision.reason


def test_the_reasons_name_what_was_refused() -> None:
    assert "link the sandbox made" in (check_command("/work/del x", POLICY).reason or "")
    assert "descriptor" in (check_command("/dev/fd/3 x", POLICY).reason or "")
    assert "history expansion" in (check_command("set -H", POLICY).reason or "")
    assert "array assignment" in (check_command('declare -a x="$v"', POLICY).reason or "")
    assert "SYSTEM" in (check_command("socat - SYSTEM:x", POLICY).reason or "")
    assert check_command("bash -c 'jobs -x rm x'", POLICY).denied_word == "rm"


def test_paths_in_the_workspace_run_where_the_policy_lets_written_programs_run() -> None:
    """With allow_workspace_exec a copied program runs under any name anyway (the kernel
    layer judges it); the names a descriptor stands for are refused under any policy."""
    assert check_command("./build.sh", LENIENT).allowed
    assert check_command("/work/venv/bin/python x.py", LENIENT).allowed
    assert not check_command("./build.sh", POLICY).allowed
    assert not check_command("/proc/self/fd/3", LENIENT).allowed


def test_the_runtime_reading_still_names_the_program() -> None:
    """The lenient reading (what already ran) keeps the name of a program run by path."""
    from common.commandline import command_programs

    assert "del" in command_programs("/work/del x")
    assert "3" in command_programs("/proc/self/fd/3 x")
    assert "rm" in command_programs("jobs -x rm x")
    assert analyse("/work/del x").paths == ("/work/del",)


@pytest.mark.parametrize(
    "line",
    [
        "echo " + "a " * 70_000,  # over the word cap
        "echo " + "$(" * 5_000 + "x" + ")" * 5_000,  # deep nesting
        "x" * (MAX_COMMAND_BYTES + 1),  # over ARG_MAX for one argument
        "sh -c " + "'sh -c " * 40 + "x" + "'" * 40,  # scripts in scripts
        "{ " * 3_000 + "true;" + " }" * 3_000,
        # no blank between them, but each a command for the parser: 12 s, 4 s, 6 s, 3 s
        # of parsing on the event loop before operators were counted as words
        "a|" * 60_000 + "a",
        "a;" * 60_000,
        "echo " + "`a`" * 40_000,
        "echo " + '"$(a)"' * 21_000,
    ],
)
def test_huge_or_deep_input_fails_fast_with_a_reason(line: str) -> None:
    started = time.monotonic()
    decision = check_command(line, POLICY)
    assert not decision.allowed and decision.reason
    assert time.monotonic() - started < FAIL_FAST_S, "validation must fail fast"
