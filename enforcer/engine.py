"""``DockerPort`` on the Docker SDK's low-level API client (one HTTP call per operation)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import docker
from docker.errors import APIError, NotFound

from enforcer.exceptions import ContainerNotFoundError, DockerActionError, EngineUnavailableError
from enforcer.port import API_FIELDS, ObservedContainer

T = TypeVar("T")

# A stuck engine must not hold a command forever: 30 s is ~300 times a normal update or kill
# (~0.1 s measured) and still short next to the topic's retention.
DEFAULT_TIMEOUT_S = 30
# Connections kept to the engine: one per concurrent action (Enforcer concurrency default 8).
DEFAULT_POOL_SIZE = 8


class DockerEngine:
    """The real adapter: the engine of this host, through the Docker SDK."""

    def __init__(self, client: docker.DockerClient) -> None:
        self._api = client.api

    @classmethod
    def from_env(
        cls, *, timeout_s: int = DEFAULT_TIMEOUT_S, pool_size: int = DEFAULT_POOL_SIZE
    ) -> DockerEngine:
        """The engine named by DOCKER_HOST (default: the local socket)."""
        return cls(docker.from_env(timeout=timeout_s, max_pool_size=pool_size))

    def close(self) -> None:
        self._api.close()

    def inspect(self, container_id: str) -> ObservedContainer:
        raw = self._call(container_id, "inspect", lambda: self._api.inspect_container(container_id))
        return state_from_inspect(raw)

    def update(self, container_id: str, resources: Mapping[str, int]) -> None:
        # docker-py's update_container knows neither PidsLimit nor NanoCpus: the documented
        # endpoint (POST /containers/{id}/update, API >= 1.40 for PidsLimit) is called directly.
        url = (
            f"{self._api.base_url}/v{self._api.api_version}/containers/{quote(container_id, safe='')}/update"
        )

        def post() -> None:
            response = self._api.post(url, json=dict(resources))
            if response.status_code >= 400:
                raise _api_error(response)

        self._call(container_id, "update", post)

    def pause(self, container_id: str) -> None:
        self._call(container_id, "pause", lambda: self._api.pause(container_id))

    def unpause(self, container_id: str) -> None:
        self._call(container_id, "unpause", lambda: self._api.unpause(container_id))

    def stop(self, container_id: str) -> None:
        # t=0: SIGKILL at once (the code under watch gets no grace period to erase traces);
        # unlike a bare kill, stop marks the container as stopped so no restart policy revives it.
        self._call(container_id, "stop", lambda: self._api.stop(container_id, timeout=0))

    def remove(self, container_id: str) -> None:
        # One call: force kills a running (or paused) container and removes it; v drops its
        # anonymous volumes so a terminated sandbox leaves no disk behind.
        self._call(
            container_id, "remove", lambda: self._api.remove_container(container_id, v=True, force=True)
        )

    @staticmethod
    def _call(container_id: str, operation: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except NotFound as exc:
            raise ContainerNotFoundError(container_id, operation) from exc
        except APIError as exc:
            reason = str(exc.explanation or exc)
            raise DockerActionError(container_id, operation, exc.status_code, reason) from exc
        except OSError as exc:  # requests' ConnectionError and Timeout are OSErrors
            raise EngineUnavailableError(container_id, operation, str(exc)) from exc


def _api_error(response: Any) -> APIError:
    """The SDK's error type for a failed raw call, with the engine's message."""
    try:
        message = str(response.json().get("message", ""))
    except ValueError:
        message = str(response.text)
    cls = NotFound if response.status_code == 404 else APIError
    return cls(message, response=response, explanation=message)


def state_from_inspect(raw: Mapping[str, Any]) -> ObservedContainer:
    """The fields the enforcer uses from ``GET /containers/{id}/json``."""
    state = raw.get("State") or {}
    host = raw.get("HostConfig") or {}
    config = raw.get("Config") or {}
    status = str(state.get("Status") or "unknown")
    if state.get("Paused") and status == "running":
        status = "paused"
    return ObservedContainer(
        id=str(raw["Id"]),
        name=str(raw.get("Name") or "").lstrip("/"),
        status=status,
        labels=dict(config.get("Labels") or {}),
        **{name: int(host.get(api) or 0) for api, name in API_FIELDS.items()},
    )
