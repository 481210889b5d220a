"""The model registry with a fake loader: ids, lazy loads, LRU unloads, busy models kept, sleep, failures;
and the models-directory scan (corrupt files listed unavailable, models.toml aliases)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from assistants.errors import ModelUnavailable, NotFound, StartupError
from assistants.inference.catalog import ModelSpec, merge, scan_models_dir
from assistants.inference.models import Models


class FakeModel:
    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.busy = 0
        self.closed = False

    async def close(self) -> None:
        self.closed = True


class Loader:
    def __init__(self, fail: set[str] | None = None, delay: float = 0.0) -> None:
        self.loads: list[str] = []
        self.fail = fail or set()
        self.delay = delay

    def __call__(self, spec: ModelSpec) -> FakeModel:
        import time

        time.sleep(self.delay)
        self.loads.append(spec.id)
        if spec.id in self.fail:
            raise StartupError("failed to load model: out of memory")
        return FakeModel(spec)


SPECS = [ModelSpec("a", None, "gguf", ("default",)), ModelSpec("b", Path("b.gguf"), "gguf", ("bee",)),
         ModelSpec("c", Path("c.gguf"), "gguf"),
         ModelSpec("bad", Path("bad.gguf"), "gguf", unavailable="nope")]


def states(models: Models) -> dict[str, str]:
    return {entry.spec.id: entry.state for entry in models.entries}


async def test_lookup_by_id_alias_and_default() -> None:
    models = Models(SPECS, Loader())
    assert models.entry(None) is models.entry("default") is models.entry("a")
    assert models.entry("bee") is models.entry("b")
    with pytest.raises(NotFound) as caught:
        models.entry("gpt-4o")
    assert caught.value.code == "model_not_found" and "'a', 'b', 'c', 'bad'" in caught.value.message


async def test_loads_on_first_use_once_for_concurrent_callers() -> None:
    loader = Loader(delay=0.05)
    models = Models(SPECS, loader)
    first, second = await asyncio.gather(models.get("b"), models.get("bee"))
    assert first is second and loader.loads == ["b"]
    assert states(models)["b"] == "loaded" and states(models)["a"] == "unloaded"


async def test_lru_idle_model_is_unloaded_beyond_max_and_a_busy_one_never() -> None:
    loader = Loader()
    models = Models(SPECS, loader, max_loaded=2)
    a = await models.get("a")
    await models.get("b")
    a.busy = 1  # a is decoding: b, though used later, is the one to go
    await models.get("c")
    assert states(models) == {"a": "loaded", "b": "unloaded", "c": "loaded", "bad": "unavailable"}
    a.busy = 0
    await models.get("b")  # now a is the least recently used idle one
    assert states(models)["a"] == "unloaded" and a.closed


async def test_a_leased_model_is_not_unloaded() -> None:
    models = Models(SPECS, Loader(), max_loaded=1)
    async with models.use("a") as a:
        assert await models.unload("a") is False
        await models.get("b")  # beyond the max, beside the leased one
        assert not a.closed
    assert await models.unload("a") is True and a.closed


async def test_failed_load_fails_that_request_and_the_others_keep_serving() -> None:
    models = Models(SPECS, Loader(fail={"b"}))
    await models.get("a")
    with pytest.raises(ModelUnavailable) as caught:
        await models.get("b")
    assert "out of memory" in caught.value.message
    assert models.entry("b").error and states(models)["b"] == "unloaded"
    with pytest.raises(ModelUnavailable):
        await models.get("bad")
    assert (await models.get("a")).closed is False


async def test_sleep_idle_unloads_and_the_next_use_reloads() -> None:
    loader = Loader()
    models = Models(SPECS, loader, sleep_idle=0.2)
    models.start()
    try:
        await models.get("a")
        for _ in range(50):
            if states(models)["a"] == "sleeping":
                break
            await asyncio.sleep(0.05)
        assert states(models)["a"] == "sleeping"
        await models.get("a")
        assert states(models)["a"] == "loaded" and loader.loads == ["a", "a"]
    finally:
        await models.close()


def test_scan_lists_models_and_marks_bad_files(tmp_path: Path) -> None:
    (tmp_path / "good.gguf").write_bytes(b"GGUF" + b"\0" * 60)
    (tmp_path / "broken.gguf").write_bytes(b"<html>not found</html>")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "mlx-model").mkdir()
    (tmp_path / "mlx-model" / "config.json").write_text("{}")
    (tmp_path / "empty-dir").mkdir()
    (tmp_path / ".hidden.gguf").write_bytes(b"GGUF")
    (tmp_path / "models.toml").write_text('[aliases]\nchat = "good"\n')
    specs = {spec.id: spec for spec in scan_models_dir(tmp_path)}
    assert set(specs) == {"good", "broken", "notes.txt", "mlx-model", "empty-dir"}
    assert specs["good"].unavailable is None and specs["good"].aliases == ("chat",)
    assert specs["mlx-model"].engine == "mlx" and specs["mlx-model"].unavailable is None
    assert "bad magic" in (specs["broken"].unavailable or "")
    assert specs["notes.txt"].unavailable and specs["empty-dir"].unavailable


def test_broken_models_toml_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "good.gguf").write_bytes(b"GGUF")
    (tmp_path / "models.toml").write_text("[aliases\n")
    assert [spec.aliases for spec in scan_models_dir(tmp_path)] == [()]


def test_merge_keeps_the_default_first_and_ids_unique() -> None:
    default = ModelSpec("a", Path("/m/a.gguf"), "gguf", ("default",))
    merged = merge([default], [ModelSpec("a", Path("/m/a.gguf"), "gguf"),
                               ModelSpec("a", Path("/n/a.gguf"), "gguf"),
                               ModelSpec("b", Path("/n/b.gguf"), "gguf", ("default", "bee"))])
    assert [(spec.id, spec.aliases) for spec in merged] == [("a", ("default",)), ("b", ("bee",))]


def test_models_dir_flags_and_variable() -> None:
    from assistants.settings import parse_cli_args

    _, settings, _ = parse_cli_args(["serve", "--models-dir", "/a", "--models-dir", "/b", "--models-max", "1",
                                     "--sleep-idle", "30"], {})
    dirs = (Path("/a"), Path("/b"))
    assert (settings.models_dirs, settings.models_max, settings.sleep_idle) == (dirs, 1, 30)
    environ = {"ASSISTANTS_MODELS_DIR": "/a:/b", "ASSISTANTS_SLEEP_IDLE": "5"}
    _, settings, _ = parse_cli_args(["serve"], environ)
    assert (settings.models_dirs, settings.sleep_idle) == (dirs, 5)
