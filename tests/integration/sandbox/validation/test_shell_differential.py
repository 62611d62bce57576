"""The validator against the shells that really run the commands, in the sandbox images.

The validator reads a command line with bashlex; the sandbox runs it with dash (the
Python image's /bin/sh), bash, or busybox ash. Where a parser and a shell disagree, a
blocked program can hide in a line the validator thinks is harmless. This test makes
the disagreement observable: it installs a marker program, blocks it by policy, and
runs hundreds of generated command lines (quoting, substitutions, wrappers, separators,
here-documents) in each shell. Every line the validator allows must not run the marker.
Control lines that the validator denies must run it, which proves the harness sees runs.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from sandbox.validation import check_command
from schemas import SecurityPolicy
from tests.conftest import BUSYBOX_IMAGE, PYTHON_IMAGE
from tests.unit.sandbox.validation.test_commands import CASES

MARKER = "zapme"  # a program no shell has as a builtin or busybox applet
POLICY = SecurityPolicy(blocked_commands={MARKER})
GENERATED = 400
SEED = 20_241_127
# Each line runs under 'timeout' so a line that waits (watch, a read) cannot stall the run.
LINE_TIMEOUT_S = 3
CONTAINER_TIMEOUT_S = 600
SANDBOX_UID = 1000

WORDS = [MARKER, MARKER, "echo", "true", "x", "-n", "5", "a=1", "{}", ";", "-c", "--", "-i", "$x", "*"]
WRAPPERS = [
    "env", "nice", "nohup", "timeout 5", "xargs", "command", "exec", "sh -c", "env -i",
    "nice -n 1", "env -S", "xargs -I{}", "find . -maxdepth 0 -exec", "stdbuf -oL", "time", "!", "{", "(",
]  # fmt: skip
SEPARATORS = [
    " ",
    "  ",
    "\t",
    ";",
    "&&",
    "||",
    "|",
    "&",
    "\n",
    "\\\n",
    "",
    " # ",
    "&>f ",
    ">f ",
    "<<E\n",
    "\nE\n",
]
CONTROLS = [
    f"{MARKER} x",
    f"{MARKER[0]}\\{MARKER[1:]} x",
    f"'{MARKER}' x",
    f"env -i {MARKER}",
    f"echo $({MARKER})",
    f"sh -c '{MARKER}'",
    f"echo `{MARKER}`",
    f"true && {{ {MARKER}; }}",
]

# Lines on which the shells really disagree: each runs the marker in the listed shells
# only. The validator must deny them all (it reads them both ways).
EVIDENCE: dict[str, set[str]] = {
    f"echo $'\\' ; {MARKER} x ; # '": {"python-sh"},
    f"echo $'\\'' ; {MARKER} x ; # '": {"python-bash", "busybox-sh"},
    f"ls &>/dev/null {MARKER} x": {"python-sh"},
}

# Issue 17's defeats, each run in the shells listed (found by running them): the
# validator must deny every one. Here-document delimiters, login shells, assigning
# expansions of dangerous variables, and the program-running tools of the images.
ALL = {"python-sh", "python-bash", "busybox-sh"}
PYTHON = {"python-sh", "python-bash"}
ATTACKS: dict[str, set[str]] = {
    f"cat <<$'E'\nE\n{MARKER} x\n$E": {"busybox-sh", "python-bash"},
    f'cat <<$"E"\nE\n{MARKER} x\n$E': {"python-bash"},
    f"echo '{MARKER} x' > .profile; HOME=$PWD sh -lc true": ALL,
    f"echo '{MARKER} x' > .profile; HOME=$PWD bash --login -c true": PYTHON,
    f"bash -c 'BASH_CMDS=/bin/{MARKER}; 0 x'": PYTHON,
    f"echo '{MARKER} x' > e.sh; set -a; : ${{BASH_ENV:=$PWD/e.sh}}; bash -c true": PYTHON,
    f"mkdir b; cp /bin/{MARKER} b/ls; unset PATH; : ${{PATH:=$PWD/b}}; ls": ALL,
    f"chrt -o 0 {MARKER} x": PYTHON,
    f"linux64 {MARKER} x": ALL,
    f"setarch x86_64 {MARKER} x": PYTHON,
    f"prlimit --nofile=100 {MARKER} x": PYTHON,
    f"setpriv {MARKER} x": ALL,
    f"taskset 1 {MARKER} x": ALL,
    f"script -qc '{MARKER} x' /dev/null": PYTHON,
    f"start-stop-daemon -S -x /bin/{MARKER} -- x": {"busybox-sh"},
    f"cp /bin/{MARKER} p; run-parts .": ALL,
    f"tar -cf a.tar /etc/hostname 2>/dev/null; tar -xf a.tar --to-command={MARKER}": ALL,
    f"tar -cf a.tar --checkpoint=1 --checkpoint-action=exec={MARKER} /etc/hostname": PYTHON,
    f"echo x | sed 's/x/{MARKER}/e'": PYTHON,
    f"echo x | sed '1e {MARKER}'": PYTHON,
    f"awk 'BEGIN{{system(\"{MARKER} x\")}}'": ALL,
    f"awk 'BEGIN{{print | \"{MARKER}\"}}'": ALL,
    f"echo x | split --filter='{MARKER} x'": PYTHON,
    f"SHELL=/bin/{MARKER} flock l -c x": PYTHON,
    f"echo '{MARKER} x' > .profile; HOME=$PWD exec -l sh -c true": {"python-bash"},
    # bash evaluates a variable's content as arithmetic, subscripts and all; dash and ash do not.
    f"x='a[$({MARKER})]'; echo $((x))": {"python-bash"},
    f"x='a[$({MARKER})]'; i=$((x+1))": {"python-bash"},
}
# Constant arithmetic, which validation accepts, around the marker in every position a
# shell could read differently: none of these may run it.
ARITHMETIC = [
    "echo $((1+2))",
    "n=$((60*60)); echo $n",
    f"echo $(( (1+2) * 3 )) {MARKER}",
    f"echo '$((1))' {MARKER}",
    f'echo "$((1))" "{MARKER}"',
    f"echo $((1)){MARKER}",
    "echo $(((1)))$((2))",
    "echo $(((1 << 4) | 3 ^ ~0)), $((1 > 2 ? 1 : 0)), $(( 7 / 2 - -1 )), $(())",
    f"echo $(( 1 ))  # $({MARKER})",
]


def _quote(rng: random.Random, word: str) -> str:
    forms = [
        word,
        word,
        word,
        f"'{word}'",
        f'"{word}"',
        "".join("\\" + c for c in word),
        f"$'{word}'",
        f"$({word})",
        f"`{word}`",
        word[:1] + "''" + word[1:],
        "${x:-" + word + "}",
        word + rng.choice(["'", '"', "\\", ")", "(", "}", "`"]),
    ]
    return rng.choice(forms)


def _line(rng: random.Random) -> str:
    parts: list[str] = []
    for _ in range(rng.randint(1, 6)):
        pick = rng.random()
        if pick < 0.3:
            parts.append(_quote(rng, rng.choice(WRAPPERS)))
        elif pick < 0.75:
            parts.append(_quote(rng, rng.choice(WORDS)))
        else:
            parts.append(rng.choice(SEPARATORS))
        parts.append(rng.choice([" ", " ", rng.choice(SEPARATORS)]))
    return "".join(parts)


def _corpus() -> list[str]:
    rng = random.Random(SEED)
    lines = [_line(rng) for _ in range(GENERATED)]
    lines += [command.replace("rm", MARKER).replace("kill", MARKER) for _, command, _ in CASES]
    return [line for line in lines if "\0" not in line]


# Installed as root; the lines then run as the sandbox user, so a line that really runs
# something destructive ('r\\m -rf /' from the corpus) cannot touch the harness.
INSTALL = f"""
cat > /bin/{MARKER} <<'MARK'
#!/bin/sh
case "$(pwd)" in /work/[0-9]*) n="${{PWD#/work/}}" ;; *) n="${{FZ_LINE:-$(cat /tmp/fz/current)}}" ;; esac
echo "${{n%%/*}}" >> /tmp/fz/ran
MARK
chmod 755 /bin/{MARKER}
mkdir -p /tmp/fz /work && chmod 755 /tmp/fz && chown {SANDBOX_UID} /work
: > /tmp/fz/ran && chmod 666 /tmp/fz/ran
: > /tmp/fz/current && chown {SANDBOX_UID} /tmp/fz/current
"""
# Each line runs in its own directory /work/<index> with FZ_LINE=<index>: the marker
# records either, so a run is attributed to its line even when it happens in the
# background after the next line started (the counter file is the last resort).
LOOP = f"""
i=0
while IFS= read -r line; do
  echo "$i" > /tmp/fz/current
  mkdir -p "/work/$i" && cd "/work/$i"
  cmd=$(printf '%s' "$line" | base64 -d)
  FZ_LINE=$i timeout {LINE_TIMEOUT_S} SHELL -c "$cmd" </dev/null >/dev/null 2>&1
  i=$((i+1))
done < /tmp/fz/lines
sleep 1
"""


def _run_lines(
    client: docker.DockerClient, image: str, shell: str, lines: list[str], run_id: str
) -> set[int]:
    encoded = "\n".join(base64.b64encode(line.encode()).decode() for line in lines)
    container = client.containers.run(
        image, ["sleep", str(CONTAINER_TIMEOUT_S)], user="0", network_disabled=True, detach=True,
        labels={"sandguard.test": run_id},
    )  # fmt: skip
    try:
        _exec(container, f"{INSTALL}\ncat > /tmp/fz/lines <<'LINES'\n{encoded}\nLINES\n", "0")
        _exec(container, LOOP.replace("SHELL", shell), str(SANDBOX_UID))
        ran = _exec(container, "sort -un /tmp/fz/ran", "0")
    finally:
        container.remove(force=True)
    return {int(n) for n in ran.split()}


def _exec(container: Any, script: str, user: str) -> str:
    code, out = container.exec_run(["/bin/sh", "-c", script], user=user)
    assert code == 0, out.decode(errors="replace")
    return str(out.decode())


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return CONTROLS + list(EVIDENCE) + list(ATTACKS) + ARITHMETIC + _corpus()


@pytest.fixture
def containers_cleaned(docker_client: docker.DockerClient, run_id: str) -> Iterator[str]:
    yield run_id
    for container in docker_client.containers.list(all=True, filters={"label": f"sandguard.test={run_id}"}):
        container.remove(force=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "image", "shell"),
    [
        ("python-sh", PYTHON_IMAGE, "sh"),
        ("python-bash", PYTHON_IMAGE, "bash"),
        ("busybox-sh", BUSYBOX_IMAGE, "sh"),
    ],
)
def test_allowed_lines_never_run_the_blocked_program(
    name: str,
    image: str,
    shell: str,
    corpus: list[str],
    docker_client: docker.DockerClient,
    containers_cleaned: str,
) -> None:
    ran = _run_lines(docker_client, image, shell, corpus, containers_cleaned)
    for index in range(len(CONTROLS)):
        assert index in ran, f"control {CONTROLS[index]!r} did not run: the harness is blind"
        assert not check_command(CONTROLS[index], POLICY).allowed
    for offset, (line, shells) in enumerate(EVIDENCE.items()):
        assert ((len(CONTROLS) + offset) in ran) == (name in shells), f"{name} disagrees on {line!r}"
        assert not check_command(line, POLICY).allowed
    first = len(CONTROLS) + len(EVIDENCE)
    for offset, (line, shells) in enumerate(ATTACKS.items()):
        assert ((first + offset) in ran) == (name in shells), f"{name} disagrees on attack {line!r}"
        assert not check_command(line, POLICY).allowed, line
    assert all(check_command(line, POLICY).allowed for line in ARITHMETIC), "constant arithmetic is allowed"
    bypasses = [corpus[i] for i in sorted(ran) if check_command(corpus[i], POLICY).allowed]
    assert not bypasses, f"{shell} in {image} ran {MARKER} from lines the validator allowed: {bypasses}"
    allowed = sum(check_command(line, POLICY).allowed for line in corpus)
    assert allowed > 100, "the corpus must exercise many allowed lines, not only denials"
