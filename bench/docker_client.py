"""The streaming Docker client: the hand-written asyncio HTTP/1.1 client beside aiodocker.

    python bench/docker_client.py --json [--rounds 30] [--image sandguard/busybox:1]

Issue 14 keeps one client for streaming exec and events: the hand-written one only if it
wins by ``KEEP_RATIO`` or more. Both are measured in one run, interleaved round by round
(the order flips every round) on one container, so a noisy host slows both alike:

* exec: create an exec of ``true``, start it attached, read its stream to the end, inspect
  its exit code (what sandbox.execution does for every command);
* 1 MiB file round trip: a tar of 1 MiB put with the archive API, then read back.

The hand-written client is the one sandbox/engine_http.py held until this benchmark chose
aiodocker; it is kept beside this file (bench/baseline_engine_http.py) so the comparison
can be run again. Every loop is bounded by --rounds; the container is labelled and removed.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiodocker
import docker

try:
    from bench import cli
    from bench.baseline_engine_http import EngineHTTP
    from bench.stats import percentile
except ModuleNotFoundError:  # run as a script (python bench/x.py): bench/ is on the path
    import cli  # type: ignore[import-not-found,no-redef]
    from baseline_engine_http import EngineHTTP  # type: ignore[import-not-found,no-redef]
    from stats import percentile  # type: ignore[import-not-found,no-redef]

MIB = 1024 * 1024
# Keep the hand-written client only if aiodocker's p50 is at least this many times its own.
KEEP_RATIO = 1.2
WARMUP = 3
LABEL = "sandguard.bench.docker_client"
SOCKET = "unix:///var/run/docker.sock"
EXEC_BODY = {"AttachStdout": True, "AttachStderr": True, "Tty": False, "Cmd": ["true"]}


def tar_of(data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("blob.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def untar(data: bytes) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile("blob.bin")
        assert member is not None
        return member.read()


class HandWritten:
    def __init__(self, http: EngineHTTP, cid: str) -> None:
        self.http = http
        self.cid = cid

    async def exec(self) -> None:
        answer = await self.http.request("POST", f"/containers/{self.cid}/exec", EXEC_BODY)
        start = {"Detach": False, "Tty": False}
        reader, writer = await self.http.upgrade(f"/exec/{answer['Id']}/start", start)
        try:
            while await reader.read(65536):
                pass
        finally:
            writer.close()
        state = await self.http.request("GET", f"/exec/{answer['Id']}/json")
        if state["ExitCode"] != 0:
            raise RuntimeError("exec failed")

    async def round_trip(self, blob: bytes) -> None:
        await self.http.request_bytes("PUT", f"/containers/{self.cid}/archive?path=/tmp", tar_of(blob))
        got = await self.http.request_bytes("GET", f"/containers/{self.cid}/archive?path=/tmp/blob.bin")
        if untar(got) != blob:
            raise RuntimeError("round trip changed the file")


class AioDocker:
    def __init__(self, client: aiodocker.Docker, cid: str) -> None:
        self.container = client.containers.container(cid)

    async def exec(self) -> None:
        run = await self.container.exec(["true"], stdout=True, stderr=True)
        async with run.start(detach=False) as stream:
            while await stream.read_out() is not None:
                pass
        if (await run.inspect())["ExitCode"] != 0:
            raise RuntimeError("exec failed")

    async def round_trip(self, blob: bytes) -> None:
        await self.container.put_archive("/tmp", tar_of(blob))  # type: ignore[no-untyped-call]
        tar = await self.container.get_archive("/tmp/blob.bin")
        member = tar.extractfile("blob.bin")
        if member is None or member.read() != blob:
            raise RuntimeError("round trip changed the file")


async def timed(fn: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await fn()
    return (time.perf_counter() - started) * 1000


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples, 50), 2),
        "p95_ms": round(percentile(samples, 95), 2),
        "p99_ms": round(percentile(samples, 99), 2),
        "n": len(samples),
    }


async def interleaved(rounds: int, runs: dict[str, Callable[[], Awaitable[None]]]) -> dict[str, list[float]]:
    """Each round runs every client once, in an order that flips every round."""
    for fn in runs.values():
        for _ in range(WARMUP):
            await fn()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for i in range(rounds):
        for name in names if i % 2 == 0 else reversed(names):
            samples[name].append(await timed(runs[name]))
    return samples


def compare(samples: dict[str, list[float]]) -> dict[str, Any]:
    hand, aio = summary(samples["hand_written"]), summary(samples["aiodocker"])
    return {
        "hand_written": hand,
        "aiodocker": aio,
        "ratio_p50_aiodocker_over_hand_written": round(aio["p50_ms"] / hand["p50_ms"], 3),
        "ratio_p95_aiodocker_over_hand_written": round(aio["p95_ms"] / hand["p95_ms"], 3),
    }


async def main(rounds: int, image: str) -> dict[str, Any]:
    sdk = docker.from_env()
    run_id = uuid.uuid4().hex[:8]
    container = sdk.containers.run(image, ["sleep", "600"], detach=True, labels={LABEL: run_id})
    aio = aiodocker.Docker(url=SOCKET)
    try:
        hand = HandWritten(EngineHTTP(SOCKET, sdk.api.api_version), container.id)
        ours = AioDocker(aio, container.id)
        blob = bytes(range(256)) * (MIB // 256)
        execs = await interleaved(rounds, {"hand_written": hand.exec, "aiodocker": ours.exec})
        files = await interleaved(
            rounds,
            {"hand_written": lambda: hand.round_trip(blob), "aiodocker": lambda: ours.round_trip(blob)},
        )
    finally:
        await aio.close()
        container.remove(force=True)
        sdk.close()
    result: dict[str, Any] = {"exec": compare(execs), "file_round_trip_1mib": compare(files)}
    wins = min(result[k]["ratio_p50_aiodocker_over_hand_written"] for k in ("exec", "file_round_trip_1mib"))
    result["keep_ratio"] = KEEP_RATIO
    result["hand_written_kept"] = wins >= KEEP_RATIO
    result["rounds"] = rounds
    result["image"] = image
    return result


if __name__ == "__main__":
    parser = cli.parser(__doc__)
    parser.add_argument("--rounds", type=int, default=30, help="rounds per measure (at most 500)")
    parser.add_argument("--image", default="sandguard/busybox:1")
    args = parser.parse_args()
    cli.emit(asyncio.run(main(min(args.rounds, 500), args.image)), args.json)
