"""The HTTP server of `rights serve`: uvicorn serving the API, as a child process of the
supervisor (api/serve/supervisor.py), with its settings in the environment.

uvicorn runs here and not in the supervisor because it takes over SIGTERM and SIGINT and
re-raises them once it has stopped: in-process, the supervisor could not be sure to
stop Redis and release the data directory after it. Here uvicorn keeps its graceful
stop, and the supervisor keeps the last word.

The protocol is httptools with the bounds of api/serve/http_limits.py. Every worker watches
the process it must not outlive (the supervisor when this process serves, this process
when `--workers` > 1 makes it uvicorn's worker manager) and stops when it is gone.
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Any

from ..settings import Settings

PARENT_ENV = "RIGHTS_SERVE_PARENT_PID"


def create_app():
    """The API (api.main), plus the parent watch among the tasks its lifespan runs."""
    from ..main import create_app as build
    from .parent_watch import watch_parent

    app = build()
    parent = int(os.environ.get(PARENT_ENV) or 0) or None
    app.state.service.background.append(lambda: watch_parent(parent))
    return app


class WorkerNews(logging.Filter):
    """uvicorn's warnings and errors, and its word when a worker died and was replaced
    (logged at INFO, which is otherwise too chatty to show)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or str(record.msg).startswith("Child process [")


def log_config() -> dict:
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"worker_news": {"()": "api.serve.child.WorkerNews"}}
    config["handlers"]["default"]["filters"] = ["worker_news"]
    return config


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How `rights serve` runs uvicorn (loop, protocol, bounds, workers): the API's server,
    and any other app measured against it under the same server (bench/raw_asgi.py)."""
    from .http_limits import LimitedHttpToolsProtocol

    return {
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "loop": "uvloop",
        "http": LimitedHttpToolsProtocol,
        "ws": "none",
        "access_log": False,
        "log_config": log_config(),
        "timeout_graceful_shutdown": 5,
        # uvicorn declares an int but only hands it to loop.call_later, which takes fractional seconds
        "timeout_keep_alive": settings.keepalive_timeout_s,
        "limit_concurrency": settings.max_connections,
    }


def main() -> None:
    import uvicorn

    settings = Settings.from_env()
    os.environ[PARENT_ENV] = str(os.getppid() if settings.workers == 1 else os.getpid())
    uvicorn.run("api.serve.child:create_app", **uvicorn_options(settings))


if __name__ == "__main__":
    main()
