"""What the layering buys at run time: the store side of the server never loads an engine.

Each check runs in a fresh interpreter, so a module some other test imported cannot hide a leak.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.serverproc import SRC

ENGINE_PACKAGES = ("llama_cpp", "mlx", "mlx_lm")

REPORT = """
import sys
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(ENGINES))
print("engines:" + ",".join(loaded))
"""


def loaded_engines(code: str) -> str:
    program = f"ENGINES = {ENGINE_PACKAGES!r}\n{code}\n{REPORT}"
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(SRC)}, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1].removeprefix("engines:")


def test_decoding_a_request_loads_no_engine() -> None:
    # A tool with a parameters schema runs the JSON-schema subset check, which once built a grammar.
    code = """
import msgspec
from assistants import protocol as p
body = {"model": "m", "tools": [{"type": "function", "function": {"name": "f", "parameters": {
    "type": "object", "properties": {"x": {"type": "string", "pattern": "^a$"}}}}}]}
p.decode(p.CreateAssistantRequest, msgspec.json.encode(body))
import assistants.store
"""
    assert loaded_engines(code) == ""


def test_migrate_loads_no_engine(tmp_path: Path) -> None:
    code = f"""
from assistants.__main__ import main
assert main(["migrate", "--data-dir", {str(tmp_path)!r}]) == 0
"""
    assert loaded_engines(code) == ""
    assert (tmp_path / "assistants.db").is_file()


def test_serving_without_a_model_loads_no_engine(tmp_path: Path) -> None:
    # The whole app, with every route imported and the services opened as `serve --no-model` does.
    code = f"""
import asyncio
from pathlib import Path
from assistants.__main__ import migrate
from assistants.app import create_app
from assistants.services import Services
from assistants.settings import Settings

settings = Settings(data_dir=Path({str(tmp_path)!r}), load_model=False)
migrate(settings)

async def open_and_close():
    async with Services.open(settings) as services:
        create_app(settings, services)

asyncio.run(open_and_close())
"""
    assert loaded_engines(code) == ""


def test_the_check_sees_an_engine_when_one_is_loaded() -> None:
    # Guards the three tests above against passing vacuously (a typo in the package names, say).
    assert loaded_engines("from assistants.inference.gbnf import grammar_for_schema\n"
                          "grammar_for_schema({'type': 'string'})") == "llama_cpp"
