"""The pure rule engine: one container's state, its policy and one event in; violations,
enforcement commands and the new state out. No I/O, no Faust, no wall clock."""

from processors.engine.policy import CompiledPolicy, PolicyContext, compile_policy
from processors.engine.state import STATE_VERSION, ContainerState, Finding
from processors.engine.step import EngineEvent, StepResult, close, new_state, reconsider, step

__all__ = [
    "STATE_VERSION",
    "CompiledPolicy",
    "ContainerState",
    "EngineEvent",
    "Finding",
    "PolicyContext",
    "StepResult",
    "close",
    "compile_policy",
    "new_state",
    "reconsider",
    "step",
]
