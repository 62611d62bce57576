"""Command validation against the attacks it exists for, written before the defence.

Each case is a command line and what must happen under the default policy: ``OK``
(allowed), or the word that is denied (None when the line is refused as a whole, e.g.
it does not parse).
"""

from __future__ import annotations

import pickle

import pytest

from common.commandline.wrappers import WRAPPERS
from sandbox.validation import (
    MAX_COMMAND_BYTES,
    MAX_COMMAND_WORDS,
    CommandDecision,
    CommandDeniedError,
    ValidationDenied,
    check_command,
    validate_command,
)
from schemas import SecurityPolicy, SecurityViolationType
from tests.unit.sandbox.validation.conftest import PolicyFactory

OK = "<allowed>"

CASES: list[tuple[str, str, str | None]] = [
    # (attack class, command, denied word or OK or None)
    ("plain", "ls -la /work", OK),
    ("plain", "rm -rf /", "rm"),
    ("argument", "echo rm", OK),
    ("argument", "grep kill log.txt", OK),
    ("argument", "python3 -c \"print('rm')\"", OK),
    ("argument", "echo 'kill $(pidof x)'", OK),
    ("argument", "printf '%s\\n' rm -rf /", OK),
    ("list", "ls; rm x", "rm"),
    ("list", "ls && rm x", "rm"),
    ("list", "false || kill 1", "kill"),
    ("list", "ls & rm x", "rm"),
    ("list", "ls\nrm x", "rm"),
    ("list", "ls # comment\nchmod 777 x", "chmod"),
    ("pipeline", "ls | rm x", "rm"),
    ("pipeline", "ls |& kill 1", "kill"),
    ("pipeline", "! rm x", "rm"),
    ("group", "(rm x)", "rm"),
    ("group", "{ rm x; }", "rm"),
    ("group", "(ls; (cd /; { pkill x; }))", "pkill"),
    ("group", "if true; then rm x; fi", "rm"),
    ("group", "while true; do kill 1; done", "kill"),
    ("group", "until rm x; do :; done", "rm"),
    ("group", "for f in a b; do rm $f; done", "rm"),
    ("substitution", "echo $(rm x)", "rm"),
    ("substitution", "echo `kill 1`", "kill"),
    ("substitution", "echo $(echo $(echo $(rm x)))", "rm"),
    ("substitution", "echo $(echo `kill 1`)", "kill"),
    ("substitution", 'echo "$(rm x)"', "rm"),
    ("substitution", 'echo "a $(ls `kill 1`) b"', "kill"),
    ("substitution", "x=$(rm x)", "rm"),
    ("substitution", "x=`kill 1` ls", "kill"),
    ("substitution", "echo hi > $(rm x)", "rm"),
    ("substitution", "cat <<< $(rm x)", "rm"),
    ("substitution", "for x in $(rm x); do :; done", "rm"),
    ("substitution", "{ ls; } > `kill 1`", "kill"),
    ("substitution", "echo ${x:-$(rm x)}", "${x:-$(rm x)}"),
    ("process substitution", "cat <(rm x)", "rm"),
    ("process substitution", "ls > >(kill 1)", "kill"),
    ("process substitution", "while read l; do :; done < <(rm x)", "rm"),
    ("quoting", "r\\m -rf /", "rm"),
    ("quoting", "'r'm -rf /", "rm"),
    ("quoting", '"rm" -rf /', "rm"),
    ("quoting", 'r""m x', "rm"),
    ("quoting", "\"r\"'m' x", "rm"),
    ("quoting", "r\\\nm x", "rm"),
    ("path", "/bin/rm x", "rm"),
    ("path", "./rm x", "rm"),
    ("path", "/usr/bin/../bin/rm x", "rm"),
    ("path", "../../bin//rm x", "rm"),
    ("path", "~/bin/rm x", "rm"),
    ("env", "env rm x", "rm"),
    ("env", "env -i FOO=1 BAR=2 rm x", "rm"),
    ("env", "env -u HOME -i kill 1", "kill"),
    ("env", "env -iu HOME rm x", "rm"),
    ("env", "env -- rm x", "rm"),
    ("env", "env -S 'rm -rf /'", "rm"),
    ("env", "env --split-string='nice rm'", "rm"),
    ("env", "env --unse=HOME rm x", "rm"),
    ("env", "env $CMD", "$CMD"),
    ("nice", "nice -n 5 rm x", "rm"),
    ("nice", "nice -5 rm x", "rm"),
    ("nice", "nice --adjustment=5 kill 1", "kill"),
    ("nohup", "nohup rm x &", "rm"),
    ("timeout", "timeout 5 rm x", "rm"),
    ("timeout", "timeout -s KILL 5 rm x", "rm"),
    ("timeout", "timeout --signal=KILL -k 1 5 kill 1", "kill"),
    ("xargs", "xargs rm", "rm"),
    ("xargs", "xargs -n 1 -P 4 rm", "rm"),
    ("xargs", "xargs -I {} kill {}", "kill"),
    ("xargs", "xargs -0 -a list.txt -- rm", "rm"),
    ("xargs", "xargs -I{} sh -c '{}'", "'{}'"),
    ("xargs", "xargs sh -c", "<input words>"),
    ("command", "command rm x", "rm"),
    ("command", "command -p kill 1", "kill"),
    ("command", "command -v rm", OK),
    ("command", "builtin eval ls", "eval"),
    ("exec", "exec rm x", "rm"),
    ("exec", "exec -a name kill 1", "kill"),
    ("exec", "exec -a rm /bin/busybox -rf /", "rm"),
    ("busybox", "busybox rm x", "rm"),
    ("busybox", "/bin/busybox kill 1", "kill"),
    ("busybox", "busybox sh -c 'rm x'", "rm"),
    ("shell -c", "sh -c 'rm x'", "rm"),
    ("shell -c", "bash -xc 'rm x'", "rm"),
    ("shell -c", "bash -lc 'kill 1'", "bash"),  # a login shell runs ~/.profile first: refused
    ("shell -c", 'dash -c "r\\\\m x"', "rm"),
    ("shell -c", "zsh -c 'pkill x'", "pkill"),
    ("shell -c", "ksh -e -c 'rm x'", "rm"),
    ("shell -c", "bash -o pipefail -c 'ls | rm x'", "rm"),
    ("shell -c", "bash -c 'bash -c \"sh -c rm\"'", "rm"),
    ("shell -c", "sh -c 'echo $(kill 1)'", "kill"),
    ("shell -c", 'sh -c "$CMD"', '"$CMD"'),
    ("find", "find . -exec rm {} \\;", "rm"),
    ("find", "find . -name '*.tmp' -execdir rm {} +", "rm"),
    ("find", "find . -ok kill {} ';'", "kill"),
    ("find", "find . -exec sh -c 'rm \"$1\"' _ {} \\;", "rm"),
    ("find", "find /bin -exec {} \\;", "{}"),
    ("find", "find . -name $PATTERN", "$PATTERN"),
    ("stdbuf", "stdbuf -oL rm x", "rm"),
    ("setsid", "setsid -f kill 1", "kill"),
    ("flock", "flock /tmp/lock rm x", "rm"),
    ("flock", "flock -w 5 /tmp/lock -c 'rm x'", "rm"),
    ("ionice", "ionice -c 3 rm x", "rm"),
    ("taskset", "taskset -c 0 rm x", "rm"),
    ("time", "time rm x", "rm"),
    ("time", "\\time -v kill 1", "kill"),
    ("watch", "watch -n 1 'rm x'", "rm"),
    ("watch", "watch -x kill 1", "kill"),
    ("chroot", "chroot / rm x", "rm"),
    ("sudo", "sudo ls", "sudo"),
    ("sudo", "su -c 'ls' root", "su"),
    ("unresolvable", "$X foo", "$X"),
    ("unresolvable", "${X} foo", "${X}"),
    ("unresolvable", '"$X" foo', '"$X"'),
    ("unresolvable", "$(which rm) x", "$(which rm)"),
    ("unresolvable", "$(echo ls) x", "$(echo ls)"),
    ("unresolvable", "`echo ls` x", "`echo ls`"),
    ("unresolvable", "eval ls", "eval"),
    ("unresolvable", "source ./x.sh", "source"),
    ("unresolvable", ". ./x.sh", "."),
    ("unresolvable", "alias ls=rm", "alias"),
    ("unresolvable", "r? x", "r?"),
    ("unresolvable", "r* x", "r*"),
    ("unresolvable", "[r]m x", "[r]m"),
    ("unresolvable", "{r,m}m x", "{r,m}m"),
    ("unresolvable", "$'\\x72m' x", "$'\\x72m'"),
    ("unresolvable", '$"rm" x', '$"rm"'),
    ("function", "rm(){ :; }; rm", "rm"),
    ("function", "f(){ ls; }; f", "f"),
    ("function", "function f { ls; }", "f"),
    ("stdin shell", "sh <<EOF\nrm x\nEOF", "sh"),
    ("stdin shell", "echo rm -rf / | sh", "sh"),
    ("stdin shell", "bash < script.sh", "bash"),
    ("stdin shell", "sh script.sh", "sh"),
    ("stdin shell", "bash -s", "bash"),
    ("stdin shell", "bash -i -c ls", "bash"),
    ("stdin shell", "cat x | busybox sh", "sh"),
    ("stdin shell", "csh -c ls", "csh"),
    ("variables", "PATH=/work ls", "PATH=/work"),
    ("variables", "export PATH=/work", "PATH=/work"),
    ("variables", "LD_PRELOAD=/work/x.so ls", "LD_PRELOAD=/work/x.so"),
    ("variables", "env BASH_ENV=/work/x.sh bash -c ls", "BASH_ENV=/work/x.sh"),
    ("variables", "env 'BASH_FUNC_ls%%=() { rm x; }' bash -c ls", "'BASH_FUNC_ls%%=() { rm x; }'"),
    ("variables", "for PATH in /work; do ls; done", "PATH"),
    ("variables", "declare -n p=PATH", "declare"),
    ("arithmetic", "let x=1", "let"),
    ("arithmetic", "((x))", None),
    ("arithmetic", "echo $((x + 2))", None),
    ("arithmetic", "echo ${a[$i]}", "${a[$i]}"),
    ("arithmetic", "echo ${s:$n}", "${s:$n}"),
    ("arithmetic", "declare -i n=x", "declare"),
    ("arithmetic", "test -v 'a[$(rm x)]'", "'a[$(rm x)]'"),
    ("code in data", "echo ${x@P}", "${x@P}"),
    ("code in data", "echo ${!name}", "${!name}"),
    ("code in data", "trap 'rm x' EXIT", "rm"),
    ("code in data", "hash -p /bin/rm ls", "hash"),
    ("code in data", "mapfile -C rm lines", "mapfile"),
    ("code in data", "set -k", "set"),
    ("heredoc", "cat <<EOF\n$(rm x)\nEOF", None),
    ("heredoc", "cat <<EOF\n`kill 1`\nEOF", None),
    ("heredoc", "cat > a.py <<'EOF'\nprint('$(rm x)')\nEOF", OK),
    ("heredoc", 'cat > a.txt <<"EOF"\n`kill 1`\nEOF', OK),
    ("heredoc", "cat <<\\EOF\n$(rm x)\nEOF", OK),
    ("heredoc", "cat <<EOF\nhello $USER\nEOF", OK),
    ("heredoc", "cat <<-EOF\n\tindented\n\tEOF\nrm x", "rm"),
    ("heredoc", "git commit -m \"$(cat <<'EOF'\nfix: $(rm x) text\nEOF\n)\" && echo ok", OK),
    ("heredoc", "x=$(cat <<'EOF'\nbody\nEOF\nrm x\n)", "x=$(cat <<'EOF'\nbody\nEOF\nrm x\n)"),
    ("heredoc", "x=$(cat <<EOF\n$(rm x)\nEOF\n)", None),
    ("heredoc", "echo $(cat <<'EOF'\na\nEOF\n) $(kill 1)", "kill"),
    ("sh vs bash", "echo $'\\' ; rm x ; # '", "$'\\' ; rm x ; # '"),
    ("sh vs bash", "ls &>/dev/null rm x", "rm"),
    ("sh vs bash", "ls &>/dev/null X=1 kill 1", "kill"),
    ("zsh", "zsh -c '=rm x'", "=rm"),
    ("zsh", "zsh -c 'noglob rm x'", "rm"),
    ("parse", "echo 'unterminated", None),
    ("parse", "case x in x) ls;; esac", None),
    ("parse", "[[ -f x ]]", None),
    ("parse", "echo `echo \\`rm x\\``", None),
    ("limits", "ls\0 -la", None),
    ("limits", "ls\r\nrm x", None),
    ("limits", "", None),
    ("limits", "   \n ", None),
    ("everyday", "cd /work && python3 main.py > out.txt 2>&1", OK),
    ("everyday", 'for f in *.py; do python3 -m py_compile "$f"; done', OK),
    ("everyday", "ls | grep -v test | wc -l", OK),
    ("everyday", "[ -f x ] && echo yes || echo no", OK),
    ("everyday", "export FOO=bar; echo $FOO ${FOO:-default} ${#FOO}", OK),
    ("everyday", "find . -name '*.py' -exec grep -l TODO {} +", OK),
    ("everyday", "timeout 10 python3 x.py", OK),
    ("everyday", "env -i PYTHONPATH=. python3 -m pytest -q", OK),
    ("everyday", "time python3 x.py | tee log.txt", OK),
    ("everyday", "nohup python3 server.py > server.log 2>&1 &", OK),
    ("everyday", "pip install --user -r requirements.txt", OK),
    ("everyday", "x=$(python3 -c 'print(1)'); echo \"$x\"", OK),
    ("everyday", 'echo "rm -rf / is dangerous"', OK),
    ("everyday", "git log --oneline | head -n 5", OK),
]


def _ids() -> list[str]:
    return [f"{i:03d}-{kind}" for i, (kind, _, _) in enumerate(CASES)]


@pytest.mark.parametrize(("kind", "command", "expected"), CASES, ids=_ids())
def test_command_cases(kind: str, command: str, expected: str | None, policy: SecurityPolicy) -> None:
    decision = check_command(command, policy)
    if expected == OK:
        assert decision == CommandDecision(True, decision.words, None, None), decision
        assert decision.words, "an allowed command resolves at least one word"
        return
    assert not decision.allowed, f"{kind}: {command!r} was allowed ({decision.words})"
    assert decision.denied_word == expected, decision
    assert decision.reason


def test_the_attack_corpus_is_large_enough() -> None:
    kinds = {kind for kind, _, _ in CASES}
    assert len(CASES) >= 60
    assert {"list", "pipeline", "group", "substitution", "quoting", "path", "find", "function"} <= kinds


def test_words_are_resolved_in_order(policy: SecurityPolicy) -> None:
    decision = check_command("ls | grep x && nice -n 1 echo $(date) > out.txt", policy)
    assert decision.allowed
    assert decision.words == ("ls", "grep", "date", "nice", "echo")


def test_policy_denial_keeps_every_word_and_names_the_first_denied(policy: SecurityPolicy) -> None:
    decision = check_command("ls; env rm x; kill 1; echo after", policy)
    assert decision.words == ("ls", "env", "rm", "kill", "echo")
    assert decision.denied_word == "rm"


def test_unresolvable_word_ends_the_words(policy: SecurityPolicy) -> None:
    decision = check_command("ls; $CMD x; echo after", policy)
    assert decision.words == ("ls",)
    assert decision.denied_word == "$CMD"


ARGV_CASES: list[tuple[list[str], str | None]] = [
    (["ls", "-la"], OK),
    (["python3", "-c", "print('rm')"], OK),
    (["sh", "-c", "rm -rf /"], "rm"),
    (["/bin/rm", "x"], "rm"),
    (["env", "FOO=1", "kill", "1"], "kill"),
    (["nice", "-n", "5", "rm", "x"], "rm"),
    (["find", ".", "-exec", "rm", "{}", ";"], "rm"),
    (["xargs", "rm"], "rm"),
    (["bash", "script.sh"], "bash"),
    (["eval", "ls"], "eval"),
    # exec form has no shell: '$X' and 'r*' are literal file names, not expansions
    (["$X"], OK),
    (["echo", "$(rm x)"], OK),
    ([], None),
    (["ls\0"], None),
]


@pytest.mark.parametrize(
    ("argv", "expected"), ARGV_CASES, ids=[" ".join(a) or "<empty>" for a, _ in ARGV_CASES]
)
def test_argv_form(argv: list[str], expected: str | None, policy: SecurityPolicy) -> None:
    decision = check_command(argv, policy)
    assert decision.allowed == (expected == OK), decision
    if expected != OK:
        assert decision.denied_word == expected


ALLOWLIST = frozenset({"python3", "ls", "echo", "cat", "rm"})


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("python3 x.py", OK),
        ("/usr/bin/python3 -V", OK),
        ("cat x | python3 -", OK),
        ("echo $(python3 x.py)", OK),
        ("ls | grep x", "grep"),
        ("echo $(id)", "id"),
        ("env python3 x.py", "env"),
        ("sh -c 'python3 x.py'", "sh"),
        ("Python3 x.py", "Python3"),
        ("python3.11 x.py", "python3.11"),
        ("rm x", "rm"),  # allowed and blocked: the blocklist wins
    ],
)
def test_allowlist_covers_every_resolved_word(
    command: str, expected: str, make_policy: PolicyFactory
) -> None:
    decision = check_command(command, make_policy(allowed_commands=ALLOWLIST))
    assert decision.allowed == (expected == OK), decision
    if expected != OK:
        assert decision.denied_word == expected
        assert decision.reason is not None
        assert ("blocked" if expected == "rm" else "allowed_commands") in decision.reason


def test_custom_blocklist_replaces_the_default(make_policy: PolicyFactory) -> None:
    policy = make_policy(blocked_commands={"curl"})
    assert check_command("rm x", policy).allowed
    assert check_command("env curl x", policy).denied_word == "curl"


def test_structural_denials_hold_whatever_the_policy(make_policy: PolicyFactory) -> None:
    permissive = make_policy(blocked_commands=set())
    assert check_command("rm -rf /", permissive).allowed
    for command in ("eval ls", "$X", "f(){ :; }", "sh", "PATH=/x ls"):
        assert not check_command(command, permissive).allowed, command


def test_cached_analysis_is_judged_by_each_policy(make_policy: PolicyFactory) -> None:
    command = "nice -n 1 curl http://127.0.0.1/"
    assert check_command(command, make_policy()).allowed
    assert check_command(command, make_policy(blocked_commands={"curl"})).denied_word == "curl"
    assert check_command(command, make_policy()).allowed


def test_validate_raises_a_permission_error_naming_the_word(policy: SecurityPolicy) -> None:
    with pytest.raises(CommandDeniedError) as caught:
        validate_command("ls && /bin/r\\m -rf /work", policy)
    err = caught.value
    assert isinstance(err, PermissionError) and isinstance(err, ValidationDenied)
    assert (err.command, err.word) == ("ls && /bin/r\\m -rf /work", "rm")
    assert err.subject == err.command
    assert err.violation_type is SecurityViolationType.PERMISSION_VIOLATION
    assert "'rm'" in str(err) and "blocked" in str(err)


def test_validate_returns_the_decision_when_allowed(policy: SecurityPolicy) -> None:
    assert validate_command(["python3", "x.py"], policy).words == ("python3",)


def test_unparsable_denial_has_no_word(policy: SecurityPolicy) -> None:
    with pytest.raises(CommandDeniedError) as caught:
        validate_command("echo 'open", policy)
    assert caught.value.word is None
    assert "parse" in caught.value.reason


def test_argv_denial_shows_the_joined_command(policy: SecurityPolicy) -> None:
    with pytest.raises(CommandDeniedError) as caught:
        validate_command(["sh", "-c", "rm -rf /"], policy)
    assert caught.value.command == "sh -c 'rm -rf /'"


def test_denials_survive_pickling(policy: SecurityPolicy) -> None:
    with pytest.raises(CommandDeniedError) as caught:
        validate_command("kill 1", policy)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.command, copy.word, copy.reason, str(copy)) == (
        caught.value.command,
        caught.value.word,
        caught.value.reason,
        str(caught.value),
    )


def test_overlong_commands_are_denied_by_size(policy: SecurityPolicy) -> None:
    longest = "echo " + "a" * (MAX_COMMAND_BYTES - 5)
    too_long = longest + "a"
    decision = check_command(too_long, policy)
    assert not decision.allowed and decision.reason is not None and "longer" in decision.reason
    assert not check_command(["echo", "a" * MAX_COMMAND_BYTES], policy).allowed


def test_word_budget_bounds_the_parse(policy: SecurityPolicy) -> None:
    within = "echo a; " * (MAX_COMMAND_WORDS // 3)  # 'echo', 'a' and ';' each count
    assert check_command(within, policy).allowed
    decision = check_command(within + "echo a; echo b", policy)
    assert not decision.allowed and decision.reason is not None and "shell words" in decision.reason
    # a nested script counts against the same budget
    assert not check_command("sh -c '" + within + "' && sh -c '" + within + "'", policy).allowed


def test_heredoc_bodies_are_not_counted_as_words(policy: SecurityPolicy) -> None:
    body = "print(1, 2, 3)\n" * MAX_COMMAND_WORDS  # 4 words a line, 75 KiB
    assert check_command(f"cat > big.py <<'EOF'\n{body}EOF\npython3 big.py", policy).allowed


def test_deep_nesting_is_denied_not_crashed(policy: SecurityPolicy) -> None:
    nested = "echo " + "$(echo " * 300 + "x" + ")" * 300
    assert not check_command(nested, policy).allowed
    wrappers = "nice " * 40 + "ls"
    decision = check_command(wrappers, policy)
    assert not decision.allowed and decision.reason is not None and "nests" in decision.reason


def test_non_string_argv_items_are_denied(policy: SecurityPolicy) -> None:
    decision = check_command(["ls", 1], policy)  # type: ignore[list-item]
    assert not decision.allowed


def test_a_defect_in_the_validator_denies(policy: SecurityPolicy, monkeypatch: pytest.MonkeyPatch) -> None:
    # A fake, because the real handlers cannot be made to fail: a handler that crashes.
    def broken(prog: str, args: object) -> list[object]:
        raise RuntimeError("boom")

    monkeypatch.setitem(WRAPPERS, "brokenwrapper", broken)
    decision = check_command("brokenwrapper ls", policy)
    assert not decision.allowed
    assert decision.reason is not None and "validator failed" in decision.reason
