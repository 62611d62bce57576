"""What every benchmark's command line shares, said once: ``--json`` prints one JSON object
(the form bench/results keeps), without it the same object indented for a reader; those
that use Kafka take ``--bootstrap`` (the settings' default: SANDGUARD_KAFKA_BOOTSTRAP or loopback)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from sandguard.settings import Settings


def parser(doc: str | None, *, kafka: bool = False) -> argparse.ArgumentParser:
    """A parser with the module's docstring as its help, ``--json`` and maybe ``--bootstrap``."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    if kafka:
        p.add_argument("--bootstrap", default=Settings().kafka_bootstrap, help="Kafka bootstrap servers")
    return p


def emit(result: Mapping[str, Any], as_json: bool) -> None:
    """The result on stdout: one line with ``--json``, indented otherwise."""
    print(json.dumps(result, indent=None if as_json else 2))
