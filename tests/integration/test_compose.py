"""docker-compose.yml stays true to the repo: built from it, data on a named volume, a /health
healthcheck, and the very `assistants serve` command the README documents (no docker needed)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def readme_serve_argv() -> list[str]:
    """`assistants serve ...` from the first line of the first ```sh block under a README heading that
    mentions `serve` (that line may set up a venv first: `... && .venv/bin/assistants serve`)."""
    text = (ROOT / "README.md").read_text()
    sections = re.split(r"^#+ ", text, flags=re.M)
    for section in sections[1:]:
        heading, _, body = section.partition("\n")
        if "serve" not in heading.lower():
            continue
        block = re.search(r"^```(?:sh|bash|shell)\n(.*?)^```", body, flags=re.M | re.S)
        if block:
            first = next(line for line in block.group(1).splitlines() if line.strip())
            for command in re.split(r"&&|;|\|\|", first.strip().removeprefix("$ ")):
                argv = shlex.split(command)
                if len(argv) >= 2 and Path(argv[0]).name == "assistants" and argv[1] == "serve":
                    return ["assistants", *argv[1:]]
            raise AssertionError(f"no `assistants serve` in the README's serve line: {first}")
    raise AssertionError("README.md has no ```sh block under a heading containing 'serve'")


def the_service() -> tuple[str, dict[str, Any], dict[str, Any]]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    serving = {name: svc for name, svc in services.items() if svc.get("build")}
    assert len(serving) == 1, f"expected one service built from the repo, got {sorted(services)}"
    name, service = next(iter(serving.items()))
    return name, service, compose


def container_argv(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    if command is None:  # fall back to the image's CMD
        dockerfile = ROOT / service["build"].get("dockerfile", "Dockerfile") if isinstance(
            service["build"], dict) else ROOT / "Dockerfile"
        cmds = re.findall(r"^CMD\s+(.+)$", dockerfile.read_text(), flags=re.M)
        assert cmds, "neither compose `command` nor a Dockerfile CMD"
        command = cmds[-1].strip()
        command = json.loads(command) if command.startswith("[") else command
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def test_service_is_built_from_this_repo() -> None:
    _, service, _ = the_service()
    build = service["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    assert (ROOT / context).resolve() == ROOT
    dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
    assert (ROOT / dockerfile).is_file()


def test_data_dir_is_a_named_volume() -> None:
    _, service, compose = the_service()
    named = set(compose.get("volumes") or {})
    assert named, "no top-level named volumes"
    argv = container_argv(service)
    data_dir = environment(service).get("ASSISTANTS_DATA_DIR")
    if "--data-dir" in argv:
        data_dir = argv[argv.index("--data-dir") + 1]
    assert data_dir, "the data dir must be set explicitly (flag or ASSISTANTS_DATA_DIR) to sit on the volume"
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source"), volume.get("target")
        mounts.append((source, target))
    assert any(source in named and target == data_dir for source, target in mounts), (mounts, data_dir)


def test_healthcheck_probes_health() -> None:
    _, service, _ = the_service()
    test = service["healthcheck"]["test"]
    text = test if isinstance(test, str) else " ".join(test)
    assert "/health" in text


def test_command_is_the_documented_serve_line() -> None:
    _, service, _ = the_service()
    documented = readme_serve_argv()
    assert documented[:2] == ["assistants", "serve"], documented
    argv = container_argv(service)
    assert argv[: len(documented)] == documented, (argv, documented)
    extra = argv[len(documented):]
    # A container only adds the flags it needs (bind to all interfaces, data on the volume).
    assert all(not part.startswith("-") or part.startswith("--") for part in extra), extra
    host = argv[argv.index("--host") + 1] if "--host" in argv else environment(service).get("ASSISTANTS_HOST")
    assert host == "0.0.0.0", "inside a container the server must listen beyond its own loopback"


def test_healthcheck_uses_the_served_port() -> None:
    _, service, _ = the_service()
    argv = container_argv(service)
    port = argv[argv.index("--port") + 1] if "--port" in argv else environment(service).get(
        "ASSISTANTS_PORT", "8000")
    test = service["healthcheck"]["test"]
    assert f":{port}/health" in (test if isinstance(test, str) else " ".join(test))
    published = [str(p) for p in service.get("ports", [])]
    assert any(p.endswith(f":{port}") for p in published), published
    # Same default as the bare server: reachable from this host only until the operator widens it.
    assert all(p.startswith("127.0.0.1:") for p in published), published


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


@pytest.mark.parametrize("needle", ["--api-key", "ASSISTANTS_API_KEY="])
def test_no_key_is_baked_into_compose(needle: str) -> None:
    """Keys belong in an env file or secret, never in the committed compose file."""
    text = (ROOT / "docker-compose.yml").read_text()
    for line in text.splitlines():
        if needle in line:
            assert "${" in line, f"literal key in docker-compose.yml: {line.strip()}"
