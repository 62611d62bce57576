"""Command paths in writable places, judged through where they lead (``links``).

A path in /work or /tmp may be a link the sandbox made to any program under any name, so
it is refused; the manager then finds on the storage where it leads and passes that here.
These are the attacks on that second judgement (written first), then the benign venv.
"""

from __future__ import annotations

import pytest

from sandbox.validation import CommandDeniedError, check_command, validate_command
from tests.unit.sandbox.validation.conftest import PolicyFactory

VENV_PYTHON = "/work/venv/bin/python"
LINKED = "may be a link the sandbox made"


def test_a_path_in_a_writable_place_is_refused_and_named_for_resolution(make_policy: PolicyFactory) -> None:
    decision = check_command(f"cd /work && {VENV_PYTHON} -c 1", make_policy())
    assert not decision.allowed and decision.denied_word == VENV_PYTHON
    assert LINKED in (decision.reason or "") and decision.linked_paths == (VENV_PYTHON,)


def test_a_blocked_word_is_no_reason_to_resolve_paths(make_policy: PolicyFactory) -> None:
    decision = check_command(f"rm x; {VENV_PYTHON}", make_policy())
    assert decision.denied_word == "rm" and decision.linked_paths == ()


def test_a_link_to_a_blocked_program_is_refused_naming_the_path_and_the_target(
    make_policy: PolicyFactory,
) -> None:
    links = {"/work/tidy": "/usr/bin/rm"}
    with pytest.raises(CommandDeniedError) as caught:
        validate_command("/work/tidy -f /work/victim", make_policy(blocked_commands={"rm"}), links=links)
    assert caught.value.word == "rm"
    assert "'/work/tidy' is a link to '/usr/bin/rm'" in caught.value.reason


def test_the_link_is_also_judged_by_its_own_name(make_policy: PolicyFactory) -> None:
    """busybox runs the applet its argv[0] names: /work/rm -> busybox runs rm."""
    links = {"/work/rm": "/bin/busybox"}
    decision = check_command("/work/rm -f x", make_policy(blocked_commands={"rm"}), links=links)
    assert decision.denied_word == "rm"


def test_a_link_to_a_shell_has_its_script_judged(make_policy: PolicyFactory) -> None:
    links = {"/tmp/x": "/bin/sh"}
    decision = check_command(
        "/tmp/x -c 'rm -f /work/victim'", make_policy(blocked_commands={"rm"}), links=links
    )
    assert decision.denied_word == "rm"


def test_the_allowlist_applies_to_the_target(make_policy: PolicyFactory) -> None:
    policy = make_policy(allowed_commands={"python", "python3"})
    assert check_command(VENV_PYTHON, policy, links={VENV_PYTHON: "/usr/bin/python3"}).allowed
    decision = check_command(VENV_PYTHON, policy, links={VENV_PYTHON: "/usr/bin/perl"})
    assert decision.denied_word == "perl" and "is not in allowed_commands" in (decision.reason or "")


@pytest.mark.parametrize("target", ["/proc/self/exe", "/dev/fd/3", "/proc/1/root/usr/bin/python3"])
def test_a_link_to_a_descriptor_or_a_process_is_refused(make_policy: PolicyFactory, target: str) -> None:
    decision = check_command("/work/x", make_policy(), links={"/work/x": target})
    assert not decision.allowed and decision.denied_word == target
    assert "cannot be judged" in (decision.reason or "") and f"is a link to {target!r}" in (
        decision.reason or ""
    )


def test_a_target_in_another_untrusted_place_is_refused_as_a_possible_link(
    make_policy: PolicyFactory,
) -> None:
    decision = check_command("/work/x", make_policy(), links={"/work/x": "/home/u/x"})
    assert decision.denied_word == "/home/u/x" and LINKED in (decision.reason or "")


def test_only_the_paths_mapped_are_let_through(make_policy: PolicyFactory) -> None:
    links = {VENV_PYTHON: "/usr/bin/python3"}
    decision = check_command(f"{VENV_PYTHON} -m venv v && v/bin/python x.py", make_policy(), links=links)
    assert decision.denied_word == "v/bin/python" and LINKED in (decision.reason or "")


@pytest.mark.parametrize(
    "command",
    [
        f"ln -sf /usr/bin/rm {VENV_PYTHON}; {VENV_PYTHON} -f /work/victim",
        f"{VENV_PYTHON} $(ln -sf /usr/bin/rm {VENV_PYTHON}) -f /work/victim",
        f"X=$(ln -sf /usr/bin/rm {VENV_PYTHON}) {VENV_PYTHON} -f /work/victim",
        f"{VENV_PYTHON} -c 1; {VENV_PYTHON} -f /work/victim",
        f"env {VENV_PYTHON} -c 1",
    ],
)
def test_only_the_first_program_is_judged_through_a_link(make_policy: PolicyFactory, command: str) -> None:
    """Anything run before it (a substitution, an earlier command, the link itself run as
    the program it leads to) could point the link elsewhere first."""
    decision = check_command(command, make_policy(), links={VENV_PYTHON: "/usr/bin/python3"})
    assert decision.denied_word == VENV_PYTHON and LINKED in (decision.reason or "")


def test_a_mapping_is_judged_once_not_followed_in_a_loop(make_policy: PolicyFactory) -> None:
    decision = check_command("/home/x", make_policy(), links={"/home/x": "/home/x"})
    assert decision.denied_word == "/home/x" and LINKED in (decision.reason or "")


@pytest.mark.parametrize(
    ("command", "links"),
    [
        (f"{VENV_PYTHON} -c 1", {VENV_PYTHON: "/usr/bin/python3"}),
        ("/tmp/venv/bin/python3 -m json.tool f", {"/tmp/venv/bin/python3": "/usr/local/bin/python3"}),
        (f"cd /work && {VENV_PYTHON} -m pytest -q", {VENV_PYTHON: "/usr/bin/python3"}),
        ([VENV_PYTHON, "-m", "pytest", "-q"], {VENV_PYTHON: "/usr/bin/python3"}),
    ],
)
def test_a_venv_python_runs_under_the_default_policy(
    make_policy: PolicyFactory, command: str | list[str], links: dict[str, str]
) -> None:
    assert check_command(command, make_policy(), links=links).allowed
