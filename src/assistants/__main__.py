"""Command line: `assistants serve`, `assistants migrate` (also `python -m assistants ...`)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from assistants.settings import Settings, parse_cli


def main(argv: Sequence[str] | None = None) -> int:
    command, settings = parse_cli(argv, os.environ)
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from assistants.store.migrate import upgrade_to_head

    upgrade_to_head(settings.database_url)
    if command == "migrate":
        print(f"database at head: {settings.database_url}")
        return 0
    return serve(settings)


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
