"""Inference: engine protocol, continuous batcher, GGUF engine, the bundled model.

`Inference` is the one entry point the rest of the server uses (chat routes, run worker).
"""

from assistants.inference.batcher import Generation, GenerationResult
from assistants.inference.engine import EngineError, FinishReason, SamplingParams
from assistants.inference.service import ContextLengthExceeded, Inference

__all__ = [
    "ContextLengthExceeded",
    "EngineError",
    "FinishReason",
    "Generation",
    "GenerationResult",
    "Inference",
    "SamplingParams",
]
