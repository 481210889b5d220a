"""Start-up UX: one clear ready line, and ONE-line errors (non-zero exit, no traceback unless --debug)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serverproc import SRC, ServerProcess, free_port


def run_serve(*args: str, data_dir: Path, env: dict[str, str] | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistants", "serve", "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(SRC), **(env or {})},
    )


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def assert_one_line_error(result: subprocess.CompletedProcess[str], expected: str, code: int = 1) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    line = last_line(result.stderr)
    assert line.startswith("assistants") and "error:" in line, line
    assert expected in line, line
    return line


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_serve("--no-model", "--port", str(port), data_dir=tmp_path)
    assert_one_line_error(result, f"port {port} on 127.0.0.1 is already in use")


def test_missing_model_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "model.gguf"
    result = run_serve("--model", str(missing), "--port", str(free_port()), data_dir=tmp_path)
    assert_one_line_error(result, f"model not found: {missing}")


def test_corrupt_model_file(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + os.urandom(4096))
    result = run_serve("--model", str(corrupt), "--port", str(free_port()), data_dir=tmp_path)
    line = assert_one_line_error(result, str(corrupt.name))
    assert "model" in line


def test_database_in_a_missing_directory(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}"
    result = run_serve("--no-model", "--port", str(free_port()), "--db", url, data_dir=tmp_path)
    assert_one_line_error(result, f"cannot open database {url}: directory {tmp_path / 'no' / 'such' / 'dir'} "
                                  "does not exist")


def test_database_that_cannot_be_opened(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}"  # a directory, not a file
    result = run_serve("--no-model", "--port", str(free_port()), "--db", url, data_dir=tmp_path)
    assert_one_line_error(result, f"cannot open database {url}: unable to open database file")


def test_database_password_never_printed(tmp_path: Path) -> None:
    result = run_serve("--no-model", "--port", str(free_port()), "--db",
                       "postgresql+asyncpg://app:hunter2@127.0.0.1:1/assistants", data_dir=tmp_path)
    line = assert_one_line_error(result, "cannot open database postgresql+asyncpg://app:***@127.0.0.1:1/")
    assert "hunter2" not in result.stderr + result.stdout, line


def test_bad_flag(tmp_path: Path) -> None:
    result = run_serve("--no-such-flag", data_dir=tmp_path, timeout=30)
    assert_one_line_error(result, "unrecognized arguments: --no-such-flag", code=2)


def test_bad_flag_value(tmp_path: Path) -> None:
    result = run_serve("--port", "eighty", data_dir=tmp_path, timeout=30)
    assert_one_line_error(result, "--port: invalid int value", code=2)


def test_bad_environment_value(tmp_path: Path) -> None:
    result = run_serve(data_dir=tmp_path, env={"ASSISTANTS_PARALLEL": "many"}, timeout=30)
    assert_one_line_error(result, "ASSISTANTS_PARALLEL='many'")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_serve("--no-model", "--debug", "--port", str(busy.getsockname()[1]), data_dir=tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_ready_line(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, "--no-model").start()
    try:
        log = server.log_tail()
    finally:
        assert server.stop() == 0
    ready = [line for line in log.splitlines() if line.startswith("assistants: serving")]
    assert len(ready) == 1, log
    assert f"on http://127.0.0.1:{server.port} " in ready[0]
    assert f"database sqlite+aiosqlite:///{tmp_path / 'assistants.db'}" in ready[0]
    assert "Traceback" not in log


@pytest.mark.parametrize("log_format", ["json"])
def test_json_logs_carry_request_id(tmp_path: Path, log_format: str) -> None:
    import json

    import httpx

    with ServerProcess(tmp_path, "--no-model", "--log-format", log_format, "--debug") as server:
        response = httpx.get(server.base_url + "/metrics", headers={"x-request-id": "req-from-client-42"})
        assert response.headers["x-request-id"] == "req-from-client-42"
        minted = httpx.get(server.base_url + "/health").headers["x-request-id"]
        assert minted.startswith("req_")
    records = []
    for line in server.log_tail(1_000_000).splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    assert records, server.log_tail()
    assert all({"ts", "level", "logger", "message"} <= set(record) for record in records)
    assert any(record.get("request_id") == "req-from-client-42" for record in records), records
