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
    """The service `docker compose up` starts (the scale-out profile's are checked further down)."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    serving = {name: svc for name, svc in services.items() if svc.get("build") and not svc.get("profiles")}
    assert len(serving) == 1, f"expected one default service built from the repo, got {sorted(services)}"
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


# -- the scale-out profile ---------------------------------------------------------------------------

PLUMBING = {"--host", "--port", "--data-dir"}
"""Flags a container sets for itself (bind address, port, volume), not part of the documented setup."""


def documented_scale_lines() -> list[list[str]]:
    """The README's scale-out commands: the first ```sh block under its "Scale out" heading."""
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^## Scale out\n(.*?)(?=^## )", text, flags=re.M | re.S)
    assert section, "README.md has no '## Scale out' section"
    block = re.search(r"^```sh\n(.*?)^```", section.group(1), flags=re.M | re.S)
    assert block, "no ```sh block in the README's Scale out section"
    return [shlex.split(line, comments=True) for line in block.group(1).splitlines() if line.strip()]


def scaled_services() -> dict[str, dict[str, Any]]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return {name: svc for name, svc in compose["services"].items() if "scale" in (svc.get("profiles") or [])}


def effective_argv(service: dict[str, Any]) -> list[str]:
    """The command plus the flags its ASSISTANTS_* variables stand for (settings mirror every flag)."""
    argv = container_argv(service)
    for name, text in environment(service).items():
        if name.startswith("ASSISTANTS_"):
            argv += ["--" + name.removeprefix("ASSISTANTS_").lower().replace("_", "-"), text]
    return argv


def shape(argv: list[str]) -> tuple[str, frozenset[str]]:
    """(subcommand, the flags it uses but for container plumbing)."""
    assert argv[0] == "assistants", argv
    return argv[1], frozenset(part for part in argv[2:] if part.startswith("--")) - PLUMBING


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_scale_profile_runs_the_documented_commands() -> None:
    ours = {name: effective_argv(svc) for name, svc in scaled_services().items()
            if svc.get("image") == "assistants:latest"}
    documented = {shape(argv) for argv in documented_scale_lines()}
    used = {name: shape(argv) for name, argv in ours.items()}
    for name, got in used.items():
        assert got in documented, (name, got, documented)
    assert set(used.values()) == documented  # and every documented process is in the profile


def test_scale_profile_has_postgres_two_apis_two_workers_one_engine_behind_one_port() -> None:
    services = scaled_services()
    ours = {name: effective_argv(svc) for name, svc in services.items()
            if svc.get("image") == "assistants:latest"}
    apis = [n for n, a in ours.items()
            if a[1] == "serve" and "--engine" in a and flag(a, "--engine") == "openai"]
    workers = [n for n, a in ours.items() if a[1] == "worker"]
    engines = [n for n, a in ours.items() if a[1] == "serve" and "--engine" not in a]
    assert len(apis) == 2 and len(workers) == 2 and len(engines) == 1, ours
    (engine,) = engines
    assert all("--no-worker" in ours[n] for n in (*apis, engine))
    postgres = [n for n, svc in services.items() if str(svc.get("image", "")).startswith("postgres:")]
    assert len(postgres) == 1
    for name in (*apis, *workers):
        argv = ours[name]
        assert flag(argv, "--engine-url").startswith(f"http://{engine}:8000")
        db = flag(argv, "--db")
        assert db.startswith("postgresql+asyncpg://") and f"@{postgres[0]}/" in db
        assert "migrate" in services[name]["depends_on"], name  # never two processes migrating at once
    published = [svc for svc in services.values() if svc.get("ports")]
    assert len(published) == 1, "one port in front of the APIs"
    (proxy,) = published
    assert all(str(p).startswith("127.0.0.1:") for p in proxy["ports"])
    mounted = next(v.split(":")[0] for v in proxy["volumes"] if v.endswith(":ro"))
    conf = (ROOT / mounted).read_text()
    assert all(f"server {name}:8000" in conf for name in apis), conf
    assert "proxy_buffering off" in conf  # SSE streams token by token
