"""Start the real server as a subprocess on a free loopback port, the way a user runs it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

SRC = Path(__file__).resolve().parents[1] / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`python -m assistants serve ...` with its own data dir; stdout/stderr go to a log file."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None,
                 port: int | None = None) -> None:
        self.data_dir = data_dir
        self.args = list(args)
        self.port = port or free_port()
        self.env = env or {}
        self.log_path = data_dir / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_url(self) -> str:
        """The database it serves: its `--db`, else the SQLite file in its data dir."""
        if "--db" in self.args:
            return self.args[self.args.index("--db") + 1]
        return f"sqlite:///{self.data_dir / 'assistants.db'}"

    def start(self, timeout: float = 120.0) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONUNBUFFERED": "1", **self.env}
        with self.log_path.open("ab") as log:  # the server writes its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "assistants", "serve", "--port", str(self.port),
                 "--data-dir", str(self.data_dir), *self.args],
                stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL,
            )
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.base_url + "/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"server not healthy after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: the crash a durability test needs (no lifespan shutdown runs)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    @contextmanager
    def running(self, timeout: float = 120.0) -> Iterator[ServerProcess]:
        """Started for the block (`timeout` to come up: a model load may take longer than 120 s on a
        busy machine), stopped after it whatever happens."""
        self.start(timeout=timeout)
        try:
            yield self
        finally:
            self.stop()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class WorkerProcess:
    """`python -m assistants worker ...`: decodes runs from the shared database, no HTTP."""

    def __init__(self, data_dir: Path, *args: str, name: str = "worker",
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.args = list(args)
        self.env = env or {}
        self.log_path = data_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> WorkerProcess:
        """Start it without waiting for it to be ready (a supervisor restarting a dead worker)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONUNBUFFERED": "1", **self.env}
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assistants", "worker", "--data-dir", str(self.data_dir), *self.args],
            stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL,
        )
        return self

    def start(self, timeout: float = 120.0) -> WorkerProcess:
        self.spawn()
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while b"assistants: worker " not in self.log_path.read_bytes()[self._log_start:]:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"worker not ready after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.1)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    kill = ServerProcess.kill
    stop = ServerProcess.stop


@dataclass(frozen=True)
class EngineServer:
    """A model server of one engine and the id it serves the model under (the model path's stem)."""

    engine: str
    server: ServerProcess
    model_id: str


class LlamaServerProcess:
    """llama.cpp's own `llama-server` binary serving one GGUF on a free loopback port."""

    def __init__(self, binary: str, model: Path, log_dir: Path, *args: str) -> None:
        self.binary = binary
        self.model = model
        self.args = list(args)
        self.port = free_port()
        self.log_path = log_dir / f"llama-server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> LlamaServerProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--model", str(self.model), "--host", "127.0.0.1", "--port", str(self.port),
                 *self.args], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.wait_healthy(timeout)  # its /health answers 503 while the model loads
        return self

    wait_healthy = ServerProcess.wait_healthy
    log_tail = ServerProcess.log_tail
    kill = ServerProcess.kill
    stop = ServerProcess.stop
