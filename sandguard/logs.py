"""Structured logs for every component: JSON lines in production, readable in a terminal."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(*, fmt: str = "console", level: str = "info") -> None:
    lvl = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    logging.basicConfig(level=lvl, stream=sys.stderr, format="%(message)s")
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        # Not cached: a logger cached on first use keeps the level of that moment, so a later
        # configure (a second CLI command in one process, a test's capture) would not reach it.
        cache_logger_on_first_use=False,
    )
