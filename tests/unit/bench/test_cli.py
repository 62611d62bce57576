"""The command line every benchmark shares: --json, --bootstrap (loopback unless set), output."""

from __future__ import annotations

import json

import pytest

from bench import cli


def test_kafka_benchmarks_take_the_bootstrap_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SANDGUARD_KAFKA_BOOTSTRAP", raising=False)
    assert cli.parser("doc", kafka=True).parse_args([]).bootstrap == "127.0.0.1:9092"
    monkeypatch.setenv("SANDGUARD_KAFKA_BOOTSTRAP", "127.0.0.1:9192")
    args = cli.parser("doc", kafka=True).parse_args(["--json"])
    assert (args.bootstrap, args.json) == ("127.0.0.1:9192", True)
    assert not hasattr(cli.parser("doc").parse_args([]), "bootstrap")


def test_json_is_one_line_and_the_reader_gets_it_indented(capsys: pytest.CaptureFixture[str]) -> None:
    cli.emit({"p99_ms": 1.5, "met": True}, True)
    cli.emit({"p99_ms": 1.5, "met": True}, False)
    one, indented = capsys.readouterr().out.split("\n", 1)
    assert json.loads(one) == json.loads(indented) == {"p99_ms": 1.5, "met": True}
    assert indented.count("\n") == 4
