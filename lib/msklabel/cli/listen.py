"""``msklabel listen``: receive studies from PACS and send results back (see docs/pacs.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from msklabel.cli.device import add_device_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "listen",
        help="DICOM listener: studies in by C-STORE, SEG + SR + report back to PACS",
        description="Run the DICOM Storage SCP, study completion, the job queue and its "
        "worker(s). With no options: local storage, SQLite queue, one worker, port 11112, "
        "status on http://127.0.0.1:11180/status. Options override the --config file.",
    )
    add_state_options(parser)
    parser.add_argument("--ae-title", help="our AE title (default MSKLABEL)")
    parser.add_argument(
        "--host", help="address to listen on (default 127.0.0.1; 0.0.0.0: all interfaces)"
    )
    parser.add_argument("--port", type=int, help="DICOM port (default 11112; 0: any free one)")
    parser.add_argument(
        "--allow", action="append", metavar="AET", help="accept this calling AE (repeatable)"
    )
    parser.add_argument(
        "--tls",
        nargs=2,
        metavar=("CERT", "KEY"),
        help="require DICOM TLS with this PEM certificate and key (plain associations refused)",
    )
    parser.add_argument(
        "--tls-client-ca",
        metavar="CA",
        help="with --tls: accept only senders whose certificate this PEM CA signed",
    )
    parser.add_argument("--inactivity", type=float, metavar="S", help="study completion time")
    parser.add_argument("--queue", metavar="URL", help="redis://host:port/db (default: SQLite)")
    parser.add_argument("--workers", type=int, help="worker threads in this process")
    parser.add_argument(
        "--role",
        choices=("all", "listener", "worker"),
        default="all",
        help="run everything (default), only the listener, or only workers",
    )
    parser.add_argument("--status-port", type=int, help="HTTP status port (0: none)")
    parser.add_argument(
        "--destination",
        action="append",
        metavar="AET@HOST:PORT|URL",
        help="send results by C-STORE to AET@HOST:PORT or by STOW-RS to a DICOMweb URL "
        "(no login: a destination that logs in goes in the --config file)",
    )
    add_device_option(parser, default=None)
    parser.set_defaults(handler=_listen)


def add_state_options(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--storage``: where the routing keeps its state (listen and status)."""
    parser.add_argument("--config", type=Path, help="TOML or JSON configuration of listen")
    parser.add_argument("--storage", type=Path, help="folder for instances, results and state")


def _listen(args: argparse.Namespace) -> int:
    import logging
    import os
    import signal
    import threading
    import time

    from msklabel.pacs import Service, load_config

    config = load_config(args.config, **_overrides(args))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    service = Service(config, args.role).start()
    try:
        if service.listener is not None:
            print(f"listening as {config.listener.ae_title} on port {service.listener.port}")
        if service.status_server is not None:
            print(f"status: {service.status_server.url}")
        print(f"storage: {config.storage}; role: {args.role}", flush=True)
        stop.wait()
    finally:
        stopping = time.monotonic()
        unfinished = service.stop()
    if unfinished:
        # A job thread may be inside native code (torch): ending the interpreter around it
        # aborts ("terminate called without an active exception"). Leave at once instead;
        # the job is still "running" under this dead process and resumes at the next start.
        print(
            f"job(s) {', '.join(map(str, unfinished))} still running after "
            f"{config.queue.shutdown_timeout_s:g} s: left to resume at the next start; "
            f"stopped in {time.monotonic() - stopping:.2f} s",
            flush=True,
        )
        logging.shutdown()
        os._exit(0)
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    sections: dict[str, dict[str, Any]] = {
        "listener": {"ae_title": args.ae_title, "host": args.host, "port": args.port,
                     "allowed_calling_aes": args.allow,
                     "tls_certificate": args.tls[0] if args.tls else None,
                     "tls_key": args.tls[1] if args.tls else None,
                     "tls_client_ca": args.tls_client_ca},
        "completion": {"inactivity_s": args.inactivity},
        "queue": {"url": args.queue, "workers": args.workers},
        "status": {"port": args.status_port},
        "pipeline": {"device": args.device},
    }  # fmt: skip
    overrides: dict[str, Any] = {
        name: {k: v for k, v in values.items() if v is not None}
        for name, values in sections.items()
    }
    if args.storage is not None:
        overrides["storage"] = args.storage
    if args.destination:
        overrides["destinations"] = [_destination(text) for text in args.destination]
    return {k: v for k, v in overrides.items() if v != {}}


def _destination(text: str) -> dict[str, Any]:
    """``AET@HOST:PORT`` or a DICOMweb URL, as a destination table."""
    if text.startswith(("http://", "https://")):
        return {"type": "dicomweb", "url": text}
    ae_title, _, address = text.partition("@")
    host, _, port = address.rpartition(":")
    if not (ae_title and host and port.isdigit()):
        raise argparse.ArgumentTypeError(f"--destination {text!r}: expected AET@HOST:PORT or URL")
    return {"type": "dicom", "ae_title": ae_title, "host": host, "port": int(port)}
