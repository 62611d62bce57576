"""The second benign corpus (testdata/benign_agent.txt, 500+ commands of agent work written
apart from the rules) in real sandboxes with kernel events on: no process or network
finding, nothing terminated or paused, under the default policy and the demo's."""

from __future__ import annotations

import pytest

from sandguard.demo import demo_policy
from schemas import SecurityPolicy
from tests.conftest import PYTHON_IMAGE
from tests.integration.detection import agent_corpus, corpus
from tests.integration.detection.conftest import MakeStack, detection_policy
from tests.integration.detection.test_benign import run_benign_batch

COMMANDS = corpus.commands("benign_agent.txt")
BATCHES = corpus.batches(COMMANDS, 3)
FILES = {**corpus.FILES, **agent_corpus.FILES}


def _demo() -> SecurityPolicy:
    """The demo's policy, with room for a batch: its process and CPU limits are the
    miner's scene, not what this test is about (resource rules are not checked here)."""
    return demo_policy().model_copy(update={"resource_limits": detection_policy().resource_limits})


POLICIES = {"default": detection_policy, "demo": _demo}
CASES = [("default", 0), ("default", 1), ("demo", 2)]


def test_the_agent_corpus_is_large_enough() -> None:
    assert len(COMMANDS) >= 500


@pytest.mark.parametrize(("policy", "index"), CASES, ids=[f"{p}-{i}" for p, i in CASES])
async def test_agent_work_gives_no_process_finding(make_stack: MakeStack, policy: str, index: int) -> None:
    stack = await make_stack(POLICIES[policy]())
    await run_benign_batch(stack, PYTHON_IMAGE, BATCHES[index], FILES)
