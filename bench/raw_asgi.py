"""The floor under the API benchmark: a bare ASGI app answering fixed bytes, served by the
same uvicorn as `rights serve`.

`rights bench api` fetches the eligibility route's answer to the benchmark body once from
the demo server, writes it to a file, and starts `python -m bench.raw_asgi <file>
--port <p> --workers <n>`: uvicorn with exactly the options `rights serve` uses
(`api.serve.child.uvicorn_options`: uvloop, the bounded httptools protocol, the same
keep-alive, concurrency limit and worker count), in a process tree of its own. Its app
reads each request's body and answers those bytes with the headers the eligibility route
sends (content-length, content-type), so the client sees the same sizes on the wire; what
is left between this server's CPU per request and the eligibility route's is the route
itself: the framework around it, the engine, Redis, metrics and logging.

A separate tree rather than a route of the API: inside the API, the app would sit behind
whatever dispatches to it, which is what is measured.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable
from typing import Any

BODY_FILE_ENV = "RAW_ASGI_BODY_FILE"  # the answer's bytes, for every worker process


def create_app() -> Callable[[dict, Any, Any], Awaitable[None]]:
    """The ASGI app: every HTTP request gets the bytes of $RAW_ASGI_BODY_FILE as JSON."""
    with open(os.environ[BODY_FILE_ENV], "rb") as file:
        answer = file.read()
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-length", str(len(answer)).encode()), (b"content-type", b"application/json")],
    }
    body = {"type": "http.response.body", "body": answer}

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        while True:  # the request's body, read as any route reads it
            message = await receive()
            if not message.get("more_body"):
                break
        await send(start)
        await send(body)

    return app


def main() -> None:
    import uvicorn

    from api.serve.child import uvicorn_options
    from api.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("body_file")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ[BODY_FILE_ENV] = os.path.abspath(args.body_file)
    settings = Settings.from_env(host="127.0.0.1", port=args.port, workers=args.workers)
    uvicorn.run("bench.raw_asgi:create_app", **uvicorn_options(settings))


if __name__ == "__main__":
    main()
