"""Options and plumbing every long-running command shares, so each spells them alike:
``--bootstrap --namespace --host --metrics-port --log-format --log-level``, each
defaulting to the settings (``SANDGUARD_*``)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any, TypeVar

import click
from prometheus_client import CollectorRegistry, start_http_server

from sandguard.logs import configure_logging
from sandguard.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def kafka_options(fn: F) -> F:
    fn = click.option(
        "--namespace", default=None, help="prefix of topics and groups [SANDGUARD_KAFKA_NAMESPACE]"
    )(fn)
    return click.option(
        "--bootstrap", default=None, help="Kafka bootstrap servers [SANDGUARD_KAFKA_BOOTSTRAP]"
    )(fn)


def host_option(fn: F) -> F:
    return click.option("--host", default=None, help="this host's name in events [SANDGUARD_HOST]")(fn)


def service_options(fn: F) -> F:
    """Metrics endpoint and logs."""
    fn = click.option("--log-level", default=None, help="debug, info, warning... [SANDGUARD_LOG_LEVEL]")(fn)
    fn = click.option(
        "--log-format", type=click.Choice(["console", "json"]), default=None, help="[SANDGUARD_LOG_FORMAT]"
    )(fn)
    return click.option(
        "--metrics-port",
        type=int,
        default=None,
        help="Prometheus on the metrics address; 0: off [SANDGUARD_METRICS_PORT]",
    )(fn)


def host_service_options(fn: F) -> F:
    """Everything a long-running service of one host takes: Kafka, ``--host``, metrics, logs."""
    return kafka_options(host_option(service_options(fn)))


def settings_from(**overrides: Any) -> Settings:
    """The settings with the options the user gave (None: not given) on top."""
    names = {"bootstrap": "kafka_bootstrap", "namespace": "kafka_namespace"}
    given = {names.get(k, k): v for k, v in overrides.items() if v is not None}
    return Settings().model_copy(update=given)


def start_service(settings: Settings) -> CollectorRegistry:
    """Logs configured and the Prometheus endpoint up (loopback by default)."""
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    registry = CollectorRegistry()
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_addr, registry=registry)
    return registry


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT: the service flushes, commits and exits 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
