"""`python -m devtools.localstripe --port 8420`: run the local Stripe-compatible server.

`--port 0` picks a free port; `--port-file` tells a parent process (the test fixture) which one, so
parallel test sessions never race for a port.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
from pathlib import Path

from aiohttp import web
from localstripe import webhooks

from . import build_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.localstripe", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    parser.add_argument("--data-file", type=Path, help="keep the state in this file across restarts")
    parser.add_argument("--quiet", action="store_true", help="no access log")
    parser.add_argument("--webhook", help="deliver every event, signed, to this URL (the app's endpoint)")
    parser.add_argument("--webhook-secret", default="whsec_local", help="signing secret for --webhook")
    args = parser.parse_args()

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]

    app = build_app(data_file=args.data_file)
    if args.webhook:
        # Registered in-process so that `make run` needs no second step once the server is up.
        webhooks.register_webhook("app", args.webhook, args.webhook_secret, None)

    async def announce(app: web.Application) -> None:
        print(f"local Stripe server on http://{args.host}:{port}", flush=True)
        if args.port_file:
            partial = args.port_file.with_suffix(".partial")
            partial.write_text(str(port))
            os.replace(partial, args.port_file)

    app.on_startup.append(announce)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    access_log = None if args.quiet else logging.getLogger("aiohttp.access")
    web.run_app(app, sock=sock, print=None, access_log=access_log)


if __name__ == "__main__":
    main()
