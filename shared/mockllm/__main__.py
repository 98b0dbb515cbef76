"""python -m shared.mockllm [--host H] [--port P] [--load MODULE[:FUNCTION]]: serve the mock provider over HTTP."""

from __future__ import annotations

import argparse
import os

import uvicorn

from shared.config import get_settings


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description="Serve the mock LLM provider (OpenAI/Anthropic-compatible)")
    parser.add_argument("--host", default=settings.mock_host)
    parser.add_argument("--port", type=int, default=settings.mock_port)
    parser.add_argument("--load", action="append", default=[], metavar="MODULE[:FUNCTION]",
                        help="import a module that registers skills or behaviours (and call FUNCTION); "
                             "repeatable; MOCK_LOAD=a,b does the same")
    args = parser.parse_args(argv)
    from shared.mockllm.server import create_app, load_plugins

    load_plugins([*os.environ.get("MOCK_LOAD", "").split(","), *args.load])

    print(f"mock LLM provider on http://{args.host}:{args.port}  (try: curl -s http://{args.host}:{args.port}/v1/models)")
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
