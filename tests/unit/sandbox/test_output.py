"""Exec output: caps keep the head and count all; the streams stay apart."""

from __future__ import annotations

from sandbox.output import STDERR, STDOUT, CappedBuffer, ExecOutput


def test_the_cap_keeps_the_head_and_counts_everything() -> None:
    buf = CappedBuffer(5)
    for chunk in (b"abc", b"defgh", b"ij"):
        buf.append(chunk)
    assert (buf.text(), buf.total, buf.truncated) == ("abcde", 10, True)


def test_a_cut_utf8_sequence_stays_readable() -> None:
    buf = CappedBuffer(4)
    buf.append("héllo".encode())
    assert buf.text() == "hél" and buf.truncated


def test_streams_are_separated() -> None:
    out = ExecOutput(limit=100)
    for stream, payload in ((STDOUT, b"out"), (STDERR, b"err"), (STDOUT, b"!")):
        out.add(stream, payload)
    assert (out.stdout.text(), out.stderr.text()) == ("out!", "err")
