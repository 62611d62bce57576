"""docs/siem.md shows what the code sends: its example events are ``to_ocsf``'s output,
each valid against the OCSF version the page names."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.ocsf_official import OCSF_VERSION, problems
from tests.unit.schemas.siem_examples import blocks, lifecycle

DOC = Path(__file__).resolve().parents[3] / "docs" / "siem.md"


def _json_blocks() -> list[object]:
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)\n```", DOC.read_text(encoding="utf-8"), re.S)]


def test_the_page_shows_what_the_code_sends() -> None:
    """Regenerate with: python -m tests.unit.schemas.siem_examples"""
    assert _json_blocks() == [json.loads(b) for b in blocks()]


def test_each_example_event_is_valid_in_the_version_the_page_names() -> None:
    events = lifecycle()
    assert [e["activity_name"] for e in events.values()] == ["Create", "Update", "Close"]
    assert {k: problems(e) for k, e in events.items()} == {"create": [], "update": [], "close": []}
    assert f"Validated against **OCSF {OCSF_VERSION}**" in DOC.read_text(encoding="utf-8")
