"""Command line: `assistants serve | migrate | convert-gguf` (also `python -m assistants ...`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from assistants.settings import Settings, parse_cli_args


def main(argv: Sequence[str] | None = None) -> int:
    command, settings, args = parse_cli_args(argv, os.environ)
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if command == "convert-gguf":
        return convert_gguf(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from assistants.store.migrate import upgrade_to_head

    upgrade_to_head(settings.database_url)
    if command == "migrate":
        print(f"database at head: {settings.database_url}")
        return 0
    return serve(settings)


def convert_gguf(args: argparse.Namespace) -> int:
    """Convert a GGUF into an MLX model directory; needs the `mlx` extra."""
    from assistants.inference.mlx import MlxNotInstalledError, UnsupportedModelError, convert_gguf

    quantize = None if args.quantize == "none" else args.quantize
    try:
        result = convert_gguf(args.src, args.dst, quantize=quantize, dtype=args.dtype)
    except (MlxNotInstalledError, UnsupportedModelError, FileExistsError, FileNotFoundError) as exc:
        raise SystemExit(f"assistants: error: {exc}") from None
    print(f"converted {args.src} -> {result.path} ({result.tensors} tensors, {result.seconds:.1f} s)")
    return 0


def serve(settings: Settings) -> int:
    import uvicorn

    from assistants.app import create_app

    app = create_app(settings)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="debug" if settings.debug else "warning",
        lifespan="on", timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
