"""The one command analyser: strict for validation, lenient for what already ran.

Attacks first: each line hides a blocked program from a reader that looks only at the
first word (the shlex heuristic the processors had: ``sh -c 'rm -rf /work'`` was just
``sh``, ``sudo -u bob rm x`` was ``sudo`` and ``-u``). Validation denies every one; the
lenient reading used at run time must name the hidden program, in the three forms the
processors see: the shell line (an audited exec), a ``docker exec`` argv joined by blanks
(Docker's exec_start event) and a process's argv. Then benign work must not name a
blocked program, and what does not parse or breaks the analyser is still read.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from common.commandline import CACHE_SIZE, analyse, clear_caches, command_programs
from common.commandline.analysis import CACHES, MAX_RUNTIME_WORDS
from common.commandline.options import getopt
from common.commandline.wrappers import WRAPPERS
from sandbox.validation import check_command
from schemas import SecurityPolicy

BLOCKED = SecurityPolicy().blocked_commands  # rm, kill, sudo, su... (the seed's defaults)
BENIGN_FILES = sorted((Path(__file__).parents[2] / "integration/detection/testdata").glob("benign_*.txt"))

# (the line as the agent wrote it, the blocked program it hides)
HIDDEN: list[tuple[str, str]] = [
    ("sh -c 'rm -rf /work'", "rm"),
    ('bash -lc "cd /work; rm x"', "rm"),
    ("bash -ic 'kill 1'", "kill"),
    ("env rm x", "rm"),
    ("env -i FOO=1 rm x", "rm"),
    ("sudo -u bob rm x", "rm"),
    ("sudo -i rm x", "rm"),
    ("su -l -c 'rm x'", "rm"),
    ("nice -n 5 rm x", "rm"),
    ("timeout 5 rm x", "rm"),
    ("timeout -s KILL 5 kill 1", "kill"),
    ("xargs rm", "rm"),
    ("xargs -I{} rm {}", "rm"),
    ("find . -exec rm {} \\;", "rm"),
    ("find . -name '*.tmp' -execdir rm {} +", "rm"),
    ("busybox rm x", "rm"),
    ("/bin/busybox sh -c 'kill 1'", "kill"),
    ("r''m x", "rm"),
    ('"r"m x', "rm"),
    ("$'\\x72m' x", "rm"),
    ("$'\\162m' x", "rm"),
    ("\\rm x", "rm"),
    ("/usr/bin/../bin/rm x", "rm"),
    ("echo $(rm x)", "rm"),
    ("echo `kill 1`", "kill"),
    ("cat <(rm x)", "rm"),
    ("ls | xargs -0 rm", "rm"),
    ("true && (cd /; { rm x; })", "rm"),
    ("exec -l rm x", "rm"),
    ("eval 'rm x'", "rm"),
    ("f() { rm x; }; f", "rm"),
    ("$CMD; rm x", "rm"),
    ("PATH=/tmp rm x", "rm"),
    ("watch -n 1 'rm x'", "rm"),
    ("flock /tmp/l -c 'kill 1'", "kill"),
    ("nohup setsid stdbuf -oL chrt 1 rm x", "rm"),
]


@pytest.mark.parametrize(("line", "hidden"), HIDDEN)
def test_validation_denies_what_a_first_word_reader_misses(line: str, hidden: str) -> None:
    decision = check_command(line, SecurityPolicy())
    assert not decision.allowed, line
    assert hidden not in line.split()[:1]  # the attack really hides it from the first word's text


@pytest.mark.parametrize(("line", "hidden"), HIDDEN)
def test_the_runtime_reading_of_a_shell_line_names_the_hidden_program(line: str, hidden: str) -> None:
    assert hidden in command_programs(line), (line, command_programs(line))


# (an argv run by docker exec or seen in a process listing, the blocked program it hides)
ARGV_HIDDEN: list[tuple[list[str], str]] = [
    (["sh", "-c", "rm -rf /work"], "rm"),
    (["bash", "-lc", "cd /work; rm x"], "rm"),
    (["sudo", "-u", "bob", "rm", "x"], "rm"),
    (["env", "rm", "x"], "rm"),
    (["nice", "-n", "5", "rm", "x"], "rm"),
    (["timeout", "5", "kill", "1"], "kill"),
    (["xargs", "rm"], "rm"),
    (["find", ".", "-exec", "rm", "{}", ";"], "rm"),
    (["busybox", "rm", "x"], "rm"),
    (["sh", "-c", "r''m x"], "rm"),
    (["sh", "-c", '"r"m x'], "rm"),
    (["bash", "-c", "$'\\x72m' x"], "rm"),
    (["sh", "-c", "\\rm x"], "rm"),
    (["bash", "-c", "echo $(kill 1)"], "kill"),
]


@pytest.mark.parametrize(("argv", "hidden"), ARGV_HIDDEN)
def test_a_docker_exec_is_read_as_argv_and_as_its_joined_line(argv: list[str], hidden: str) -> None:
    """A process's argv is exact; Docker's exec_start event joins it with blanks, which
    loses its quotes: both readings must name the hidden program."""
    assert hidden in command_programs(argv), argv
    joined = " ".join(argv)
    assert hidden in command_programs(joined), (joined, command_programs(joined))


def _benign_lines() -> list[str]:
    lines = [
        "grep -e sh notes.txt",
        'echo "rm"',
        "echo rm -rf /",
        "python3 -c \"print('sh')\"",
        "python3 -c print('sh')",  # the same, as Docker's event writes it
        "man rm",
        "apropos kill",
        "whatis sudo",
        "grep -w kill /usr/share/man/man1/kill.1",
        "printf '%s\\n' sudo su rm",
        "git commit -m 'rm the old kill switch'",
        "sed -n '/rm/p' notes.txt",
        "find . -name rm",
        "xargs -I{} echo rm {}",
        "command -v rm",
        "sh -c 'echo rm; echo kill'",
    ]
    for path in BENIGN_FILES:
        lines += [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return lines


BENIGN = _benign_lines()


def test_the_benign_corpus_is_read() -> None:
    assert len(BENIGN_FILES) >= 2 and len(BENIGN) > 400


@pytest.mark.parametrize("line", BENIGN)
def test_benign_work_names_no_blocked_program(line: str) -> None:
    for form in (line, ["sh", "-c", line], "sh -c " + line):
        assert not set(command_programs(form)) & BLOCKED, (form, command_programs(form))


@pytest.mark.parametrize("line", BENIGN)
def test_where_validation_resolves_everything_both_readings_agree(line: str) -> None:
    strict = analyse(line)
    if strict.unresolved is None:
        assert command_programs(line) == tuple(dict.fromkeys(strict.words))


def test_strict_analysis_stops_and_says_why() -> None:
    analysis = analyse("ls; $X; rm y")
    assert analysis.words == ("ls",)
    assert analysis.unresolved is not None and analysis.unresolved.word == "$X"
    assert "run time" in analysis.unresolved.reason
    assert analyse("bash -lc 'rm x'").words == ("bash",)  # refused at the login shell, not followed


@pytest.mark.parametrize(
    ("line", "programs"),
    [
        ("rm -rf /work 'unbalanced", ("rm",)),  # does not parse: read as the words of an argv
        ("sudo -u bob rm x (", ("sudo", "rm")),
        ("echo 'unbalanced", ("echo",)),
        ("kill\x01 1", ("kill\x01",)),  # a control character: still read, never crashes
        ("", ()),
        ("   ", ()),
    ],
)
def test_a_line_that_does_not_parse_is_still_read(line: str, programs: tuple[str, ...]) -> None:
    assert command_programs(line) == programs
    assert not check_command(line, SecurityPolicy(blocked_commands=set())).allowed or not line.strip()


def test_the_runtime_reading_adds_no_shell_syntax_as_a_name() -> None:
    assert command_programs("ls; $X") == ("ls",)  # the argv reading's 'ls;' is no program


def test_a_defect_in_the_analyser_still_names_the_first_word(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_caches()

    # A fake, because the real handlers cannot be made to fail: a handler that crashes.
    def broken(prog: str, args: object) -> list[object]:
        raise RuntimeError("boom")

    monkeypatch.setitem(WRAPPERS, "brokenwrapper", broken)
    assert command_programs("brokenwrapper rm x") == ("brokenwrapper",)
    assert command_programs(["/usr/bin/brokenwrapper", "rm"]) == ("brokenwrapper",)
    assert analyse("brokenwrapper rm x").unresolved is not None
    # the argv reading of a line the shell reading passed over meets the defect: no crash either
    assert command_programs("find . -exec brokenwrapper {} ;") == ("find", "brokenwrapper")
    clear_caches()  # what was read with the fake must not outlive it


def test_bad_argv_items_are_not_read() -> None:
    assert command_programs(["ls", 1]) == ()  # type: ignore[list-item]
    assert command_programs([]) == ()


def test_the_caches_are_bounded() -> None:
    assert all(cache.cache_info().maxsize == CACHE_SIZE for cache in CACHES)
    command_programs("ls -l /work")
    command_programs("ls -l /work")
    assert CACHES[1].cache_info().hits >= 1


def test_getopt_notation_reads_like_getopt_1() -> None:
    spec = getopt("fpvk:s:d::", "foreground kill-after: signal: differences::")
    assert (spec.flags, spec.with_arg, spec.optional_arg) == ("fpv", "ks", "d")
    assert (spec.long_flags, spec.long_with_arg, spec.long_optional) == (
        "foreground",
        "kill-after signal",
        "differences",
    )
    assert spec.long_kind("timeout", "kill") == ("kill-after", "arg")  # an unambiguous prefix


def test_the_runtime_reading_of_a_huge_script_is_bounded() -> None:
    """Past the budget, the script is named by the program that runs it (a documented limit)."""
    script = "echo a; " * (MAX_RUNTIME_WORDS * 2) + "rm x"
    start = time.perf_counter()
    programs = command_programs(["sh", "-c", script])
    # 2,000 words past the budget: stopped at 1,000 (≈ 80 ms at worst), a 10x margin for load.
    assert time.perf_counter() - start < 1.0
    assert programs == ("sh",)
    assert "rm" in command_programs(["sh", "-c", "echo a; " * (MAX_RUNTIME_WORDS // 4) + "rm x"])
