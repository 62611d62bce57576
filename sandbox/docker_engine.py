"""``SandboxEngine`` on a real Docker engine: the Docker SDK for single calls, on a thread
pool (it blocks), and aiodocker for what streams (an exec's output, the events).

Streams are read on the event loop, so a command's timeout or a cancelled task acts at
once instead of waiting for a blocked thread. aiodocker replaced a hand-written HTTP
client here: it is as fast (bench/docker_client.py, bench/results/docker_client.json:
exec and a 1 MiB round trip within about 6 % of each other, either way) and one less
client to keep.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiodocker
import aiohttp
import docker
import docker.errors
from aiodocker.execs import Exec

from common.docker_events import aiodocker_events, streaming_url
from sandbox.exceptions import DockerUnavailable
from sandbox.gc import GcReport, Reclaimer
from sandbox.port import ContainerMissing, EngineError, ExecSpec, ExecStream, ImageMissing

T = TypeVar("T")

# An SDK call may wait this long for the engine (a create on a loaded host takes seconds).
SDK_TIMEOUT_S = 120


def _sdk_error(exc: docker.errors.APIError, container_id: str = "") -> EngineError:
    message = str(exc.explanation or exc)
    if isinstance(exc, docker.errors.NotFound) and container_id:
        return ContainerMissing(404, message)
    return EngineError(exc.status_code or 500, message)


def _message(response: Any) -> str:
    try:
        return str(response.json().get("message", response.text[:200]))
    except ValueError:
        return str(response.text[:200])


@contextmanager
def _aio_errors(container_id: str = "") -> Iterator[None]:
    """aiodocker's errors as the port's: the engine's refusals, or no engine at all."""
    try:
        yield
    except aiodocker.DockerError as exc:
        if exc.status == 404 and container_id:
            raise ContainerMissing(404, str(exc.message)) from exc
        raise EngineError(exc.status, str(exc.message)) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise DockerUnavailable(str(exc)) from exc


class _AioStream:
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def read(self) -> tuple[int, bytes] | None:
        with _aio_errors():
            message = await self._stream.read_out()
        return None if message is None else (int(message.stream), bytes(message.data))


class DockerSandboxEngine:
    """``client``: a docker.DockerClient (or its APIClient); ``executor`` runs its calls;
    ``own``: close the client with the engine (one made by ``connect``)."""

    def __init__(self, client: Any, *, executor: Executor, own: bool = False) -> None:
        self._client = client
        self._api = getattr(client, "api", client)
        self._executor = executor
        self._own = own
        self._aio: aiodocker.Docker | None = None

    @classmethod
    async def connect(cls, client: Any | None, *, executor: Executor, pool: int) -> DockerSandboxEngine:
        """On ``client``, or on the environment's engine (DOCKER_HOST or the local socket)
        with an HTTP pool of ``pool`` connections (as many as the executor's threads)."""
        if client is not None:
            return cls(client, executor=executor)
        try:
            made = await asyncio.to_thread(docker.from_env, timeout=SDK_TIMEOUT_S, max_pool_size=pool)
        except (docker.errors.DockerException, OSError) as exc:
            raise DockerUnavailable(str(exc)) from exc
        return cls(made, executor=executor, own=True)

    @property
    def _stream_client(self) -> aiodocker.Docker:
        if self._aio is None:  # made on the event loop that uses it
            self._aio = aiodocker.Docker(url=streaming_url(self._api))
        return self._aio

    async def _call(self, fn: Callable[[], T], container_id: str = "") -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        except docker.errors.ImageNotFound:
            raise
        except docker.errors.APIError as exc:
            raise _sdk_error(exc, container_id) from exc
        except (docker.errors.DockerException, OSError) as exc:  # requests' errors are OSErrors
            raise DockerUnavailable(str(exc)) from exc

    async def ping(self) -> None:
        await self._call(self._api.ping)

    async def create(self, config: Mapping[str, Any], name: str) -> str:
        try:
            created = await self._call(partial(self._api.create_container_from_config, dict(config), name))
        except docker.errors.ImageNotFound as exc:
            raise ImageMissing(404, f"no such image: {config.get('Image', '')}") from exc
        return str(created["Id"])

    async def start(self, container_id: str) -> None:
        await self._call(partial(self._api.start, container_id), container_id)

    async def inspect(self, container_id: str) -> dict[str, Any]:
        inspect = partial(self._api.inspect_container, container_id)
        info: dict[str, Any] = await self._call(inspect, container_id)
        return info

    async def kill(self, container_id: str) -> None:
        await self._call(partial(self._api.kill, container_id), container_id)

    async def update(self, container_id: str, resources: Mapping[str, Any]) -> None:
        # The SDK's update_container knows neither PidsLimit nor NanoCpus: the documented
        # endpoint is posted to with the SDK's own session (as the enforcer does).
        api = self._api
        url = f"{api.base_url}/v{api.api_version}/containers/{quote(container_id, safe='')}/update"

        def post() -> None:
            response = api.post(url, json=dict(resources))
            if response.status_code == 404:
                raise ContainerMissing(404, _message(response))
            if response.status_code >= 400:
                raise EngineError(response.status_code, _message(response))

        await self._call(post, container_id)

    async def remove(self, container_id: str) -> None:
        await self._call(partial(self._api.remove_container, container_id, force=True, v=True), container_id)

    async def containers(self, label: str) -> list[str]:
        found = await self._call(partial(self._api.containers, all=True, filters={"label": label}))
        return [str(c["Id"]) for c in found]

    async def volumes(self, label: str) -> list[str]:
        found = await self._call(partial(self._api.volumes, filters={"label": label}))
        return [str(v["Name"]) for v in found.get("Volumes") or []]

    async def remove_volume(self, name: str) -> None:
        try:
            await self._call(partial(self._api.remove_volume, name, force=True))
        except EngineError as exc:
            if exc.status != 404:
                raise

    async def create_network(
        self, name: str, *, internal: bool, options: Mapping[str, str], labels: Mapping[str, str]
    ) -> None:
        make = partial(
            self._api.create_network, name, driver="bridge", internal=internal, options=dict(options),
            labels=dict(labels), enable_ipv6=False, check_duplicate=True,
        )  # fmt: skip
        await self._call(make)

    async def remove_network(self, name: str) -> None:
        try:
            await self._call(partial(self._api.remove_network, name))
        except EngineError as exc:
            if exc.status != 404:
                raise

    async def exec_create(self, container_id: str, spec: ExecSpec) -> str:
        container = self._stream_client.containers.container(container_id)
        with _aio_errors(container_id):
            run = await container.exec(
                list(spec.argv), stdout=True, stderr=True, user=spec.user,
                environment=list(spec.env), workdir=spec.workdir,
            )  # fmt: skip
        return str(run.id)

    @asynccontextmanager
    async def exec_start(self, exec_id: str) -> AsyncIterator[ExecStream]:
        stream = Exec(self._stream_client, exec_id).start(detach=False)
        try:
            yield _AioStream(stream)  # opened by its first read: a refusal is raised there
        finally:
            await stream.close()

    async def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        with _aio_errors():
            state: dict[str, Any] = await Exec(self._stream_client, exec_id).inspect()
        return state

    def events(self, since: str, filters: Mapping[str, Sequence[str]]) -> AsyncIterator[dict[str, Any]]:
        return aiodocker_events(self._stream_client, since, filters)

    async def reclaim(self, lease_dir: Path, host: str, spare: frozenset[str]) -> GcReport:
        return await self._call(Reclaimer(self._api, lease_dir, host, spare).run)

    async def close(self) -> None:
        aio, self._aio = self._aio, None
        if aio is not None:
            await aio.close()
        if self._own:
            self._client.close()
