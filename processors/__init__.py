"""Detection: the pure rule engine, and the two ways it runs (embedded over any bus, on
Faust workers). Violations go to ``sandguard.violations`` (OCSF Detection Findings),
commands to ``sandguard.enforcement``, bad messages to ``sandguard.deadletter``.

The Faust app lives in ``processors.faust_app`` and is imported only by who runs it,
so the embedded mode never loads Faust.
"""

from processors.engine import (
    ContainerState,
    PolicyContext,
    StepResult,
    close,
    compile_policy,
    new_state,
    step,
)
from processors.exceptions import ProcessorError, StateVersionError, WorkerError
from processors.metrics import ProcessorMetrics
from processors.pipeline import Output, Pipeline
from processors.runner import ProcessorRunner
from processors.stores import PolicyStore, StateStore

__all__ = [
    "ContainerState",
    "Output",
    "Pipeline",
    "PolicyContext",
    "PolicyStore",
    "ProcessorError",
    "ProcessorMetrics",
    "ProcessorRunner",
    "StateStore",
    "StateVersionError",
    "StepResult",
    "WorkerError",
    "close",
    "compile_policy",
    "new_state",
    "step",
]
