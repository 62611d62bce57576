"""The benign corpus: its commands (testdata/benign_*.txt), the workspace files they work
on, and the runners that run a batch inside a sandbox and print one line per command.

A runner goes through the batch in the sandbox (one ``execute`` per batch, not per
command: 400 docker execs would be most of the time), each command in a shell of its own
with a timeout, and prints ``<index> <exit code>`` per command, so the test knows every
command ran.
"""

from __future__ import annotations

from pathlib import Path

TESTDATA = Path(__file__).parent / "testdata"
# Seconds one corpus command may take inside the sandbox (the slowest take ~1 s).
COMMAND_TIMEOUT_S = 20

NOTES = """\
Notes on shells: sh is POSIX, bash adds arrays, zsh and ksh have their own ideas.
Run scripts with sh -c or bash script.txt; /bin/sh is dash on Debian.
Use grep -e sh to find the word sh; use exec to replace the shell.
A socket with dup2 onto stdin is what a reverse shell does; nc and socat are tools.
pty.spawn gives a terminal; the python docs explain it.
Output goes to /dev/null when nobody reads it.
the end
"""
WORDS = "\n".join(["sh", "bash", "zsh", "apple", "pear", "apple", "fig", "sh", "kiwi", "bash", "date"]) + "\n"
SHELLS = "sh\nbash\ndash\nzsh\nksh\nfish\n"
DATA_CSV = "id,name,score\n1,ada,90\n2,bob,75\n3,cy,82\n4,dee,60\n"
DATA_JSON = '{"name": "corpus", "items": [1, 2, 3], "nested": {"shell": "bash"}}\n'
CONFIG_YAML = "# settings\nname: corpus\nshell: bash\nretries: 3\n"
LOG = "2024-01-01 12:00:01 start\n2024-01-01 12:00:02 step 1\n2024-01-01 12:00:09 done\n"
NUMBERS = "10\n2\n33\n4\n"
TABS = "a\tb\tc\n1\t2\t3\n"
PAIRS = "a b\nb c\nc d\n"
SCRIPT = "echo script start\nfor w in sh bash; do echo $w; done\ngrep -c sh notes.txt\n"
APP = """\
import argparse
import json


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, default=1)
    a = p.parse_args()
    print(json.dumps({"greeting": "hi", "n": a.count}))


if __name__ == "__main__":
    main()
"""
LIB = '''\
def double(x):
    """
    >>> double(2)
    4
    """
    return x * 2


if __name__ == "__main__":
    print(double(21))
'''
WORDFREQ = """\
import collections
import sys

words = open(sys.argv[1]).read().split()
for w, n in collections.Counter(words).most_common(3):
    print(w, n)
"""
CSVSUM = """\
import csv
import sys

print(sum(int(r["score"]) for r in csv.DictReader(open(sys.argv[1]))))
"""
JSONQ = """\
import json
import sys

print(json.load(open(sys.argv[1]))[sys.argv[2]])
"""
RUNSUB = """\
import subprocess

for cmd in (["ls", "-1"], ["sh", "-c", "echo via sh | tr a-z A-Z"], ["grep", "-c", "bash", "notes.txt"]):
    print(subprocess.run(cmd, capture_output=True, text=True).stdout.strip())
"""
WALKER = """\
import os
import sys

for root, dirs, files in os.walk(sys.argv[1]):
    print(root, len(files))
"""
GEN = """\
for i in range(50):
    print(f"line {i} sh bash")
"""
TEST_APP = """\
import unittest

import app


class T(unittest.TestCase):
    def test_main_exists(self) -> None:
        self.assertTrue(callable(app.main))


if __name__ == "__main__":
    unittest.main()
"""
FILES = {
    "notes.txt": NOTES, "words.txt": WORDS, "shells.txt": SHELLS, "data.csv": DATA_CSV,
    "data.json": DATA_JSON, "config.yaml": CONFIG_YAML, "log.txt": LOG, "numbers.txt": NUMBERS,
    "tabs.txt": TABS, "pairs.txt": PAIRS, "script.txt": SCRIPT, "app.py": APP, "lib.py": LIB,
    "wordfreq.py": WORDFREQ, "csvsum.py": CSVSUM, "jsonq.py": JSONQ, "runsub.py": RUNSUB,
    "walker.py": WALKER, "gen.py": GEN, "test_app.py": TEST_APP,
}  # fmt: skip

# The python image's runner: bash for each line (the corpus uses bash syntax such as <(...)).
PY_RUNNER = f"""\
import subprocess
import sys

for i, line in enumerate(open(sys.argv[1]).read().splitlines()):
    try:
        rc = subprocess.run(["bash", "-c", line], cwd="/work", stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            timeout={COMMAND_TIMEOUT_S}).returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    print(i, rc, flush=True)
"""
# Each line as an argv, no shell in between (for policies that block the shells).
ARGV_RUNNER = f"""\
import shlex
import subprocess
import sys

for i, line in enumerate(open(sys.argv[1]).read().splitlines()):
    try:
        rc = subprocess.run(shlex.split(line), cwd="/work", stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            timeout={COMMAND_TIMEOUT_S}).returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    print(i, rc, flush=True)
"""
# The busybox image's runner: its own sh, one `sh -c` per line. No `timeout`: busybox's
# leaves a watcher process per command for the whole timeout, which fills the pids limit.
SH_RUNNER = """\
i=0
while IFS= read -r line; do
  (cd /work && sh -c "$line" </dev/null >/dev/null 2>&1)
  echo "$i $?"
  i=$((i+1))
done < "$1"
"""


def commands(name: str) -> list[str]:
    """The commands of ``testdata/<name>``: comments and blank lines skipped."""
    lines = (TESTDATA / name).read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def batches(items: list[str], n: int) -> list[list[str]]:
    size = -(-len(items) // n)  # ceil
    return [items[i : i + size] for i in range(0, len(items), size)]


def results(stdout: str) -> dict[int, str]:
    """``<index> <exit code>`` lines of a runner -> {index: exit code}."""
    out: dict[int, str] = {}
    for line in stdout.splitlines():
        index, _, rc = line.partition(" ")
        if index.isdigit():
            out[int(index)] = rc
    return out
