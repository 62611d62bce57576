"""Exec output: frames split anywhere decode the same; caps keep the head and count all."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sandbox.output import HEADER, STDERR, STDOUT, CappedBuffer, ExecOutput, FrameDecoder


def frame(stream: int, payload: bytes) -> bytes:
    return HEADER.pack(stream, len(payload)) + payload


frames_st = st.lists(st.tuples(st.sampled_from([STDOUT, STDERR]), st.binary(max_size=300)), max_size=20)


@given(frames_st, st.lists(st.integers(min_value=1, max_value=64), max_size=50))
def test_any_split_of_the_stream_gives_the_same_frames(
    frames: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    data = b"".join(frame(s, p) for s, p in frames)
    decoder, out, pos = FrameDecoder(), [], 0
    for cut in [*cuts, len(data)]:
        out += decoder.feed(data[pos : pos + cut])
        pos += cut
    out += decoder.feed(data[pos:])
    assert out == frames and decoder.pending == 0


def test_an_incomplete_frame_stays_pending() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(frame(STDOUT, b"hello")[:-2]) == []
    assert decoder.pending == 11


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
    out.feed(frame(STDOUT, b"out") + frame(STDERR, b"err") + frame(STDOUT, b"!"))
    assert (out.stdout.text(), out.stderr.text()) == ("out!", "err")
