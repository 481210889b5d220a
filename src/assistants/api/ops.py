"""Operator routes: Prometheus `/metrics`, and llama-server's `/props` for its Web UI."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency

from assistants import metrics, store
from assistants.inference import SamplingParams
from assistants.inference.models import Models
from assistants.settings import Settings
from assistants.store import Database
from assistants.store.responses import count_responses_by_status


@get("/metrics", tags=["ops"], summary="Prometheus metrics", media_type=metrics.CONTENT_TYPE,
     description="Prometheus text exposition; every series is prefixed `assistants_`.")
async def get_metrics(database: NamedDependency[Database],
                      loaded_models: NamedDependency[Models | None]) -> Response[bytes]:
    await refresh_live_metrics(database, loaded_models)
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


async def refresh_live_metrics(database: Database, models: Models | None) -> None:
    """Facts about the present are read at scrape time, so they are right after a restart."""
    async with database.read() as session:
        runs_by_status = await store.count_runs_by_status(session)
        metrics.set_live(responses_by_status=await count_responses_by_status(session))
    metrics.set_live(runs_by_status=runs_by_status)
    if models is not None:
        models.publish_engine_gauges()
    else:
        metrics.set_live(active_sequences=0, slots=0, waiting_requests=0)


# -- llama-server compatibility (its Web UI reads GET /props on start) ---------------------------------


class PropsParams(msgspec.Struct):
    n_predict: int
    temperature: float
    top_p: float
    stop: list[str]
    max_tokens: int
    stream: bool


class GenerationSettings(msgspec.Struct):
    n_ctx: int
    """Context one request may use (the per-sequence share of --ctx-size)."""
    params: PropsParams
    id: int = 0
    id_task: int = -1
    speculative: bool = False
    is_processing: bool = False


class Modalities(msgspec.Struct):
    vision: bool = False
    audio: bool = False


class Props(msgspec.Struct):
    default_generation_settings: GenerationSettings
    total_slots: int
    model_alias: str
    model_path: str
    """The file's name only: where the operator keeps models is not the client's business."""
    chat_template: str
    build_info: str
    bos_token: str = ""
    eos_token: str = ""
    """As llama-server tells them: a remote `--engine openai` server needs them to count a prompt's BOS."""
    modalities: Modalities = msgspec.field(default_factory=Modalities)
    chat_template_caps: dict[str, bool] = msgspec.field(default_factory=dict)
    is_sleeping: bool = False


@get(["/props", "/v1/props"], tags=["ops"], summary="Server properties (llama-server compatible)")
async def get_props(settings: NamedDependency[Settings], models: NamedDependency[Models],
                    model: str | None = None) -> Props:
    """The default model's, or `?model=ID`'s (llama-server router mode); asking loads it."""
    entry = models.entry(model)
    sleeping = entry.state == "sleeping"
    inference = await models.get(model)
    defaults = SamplingParams()
    cap = inference.max_output_tokens or -1  # what a request with no limit decodes at most
    params = PropsParams(n_predict=cap, temperature=defaults.temperature, top_p=defaults.top_p,
                         stop=list(defaults.stop), max_tokens=cap, stream=False)
    return Props(
        default_generation_settings=GenerationSettings(n_ctx=inference.ctx_size, params=params),
        total_slots=inference.slots,
        model_alias=inference.model_id,
        model_path=Path(inference.info.path).name,
        chat_template=inference.template.source,
        bos_token=inference.info.bos_token,
        eos_token=inference.info.eos_token,
        build_info=build_info(entry.spec.engine),
        is_sleeping=sleeping,
    )


def build_info(engine: str) -> str:
    """`assistants 0.1.0 (gguf: llama-cpp-python 0.3.36)`: which code answers, for bug reports."""
    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "source"

    runtime = {"gguf": "llama-cpp-python", "mlx": "mlx-lm", "openai": "httpx"}.get(engine, engine)
    return f"assistants {installed('assistants')} ({engine}: {runtime} {installed(runtime)})"


ROUTES = [get_metrics, get_props]
