"""``msklabel serve``: the MONAI Label server with the msklabel app."""

from __future__ import annotations

import argparse
import signal
import sys

from msklabel.cli.device import add_device_option, device_of


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="start the MONAI Label server with the msklabel app (Slicer, OHIF)",
        description="Start the stock MONAI Label server with the msklabel app. With no "
        "--studies it serves the real sample knee from a local datastore prepared in the "
        "cache folder. Point 3D Slicer's MONAILabel plugin or a browser (OHIF at /ohif/) at "
        "the printed URL. Stop with Ctrl-C.",
    )
    parser.add_argument(
        "--studies",
        help="a local folder of NIfTI images or a DICOMweb URL such as "
        "http://127.0.0.1:8042/dicom-web (default: the sample knee)",
    )
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1); any other needs a token",
    )
    parser.add_argument(
        "--token-file",
        help="file whose first line is the token every request must present "
        "(default: $MSKLABEL_TOKEN; at least 16 characters)",
    )
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve beyond loopback without a token (anyone reaching it can delete data)",
    )
    parser.add_argument("--app", help="MONAI Label app folder (default: apps/msk)")
    parser.add_argument(
        "-c",
        "--conf",
        nargs=2,
        action="append",
        default=[],
        metavar=("KEY", "VALUE"),
        help="app option, e.g. -c labels femur,tibia -c checkpoint PATH (repeatable)",
    )
    add_device_option(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from msklabel.labeling.studies import sample_studies
    from msklabel.security.auth import read_token
    from msklabel.serve import MonaiLabelServer

    device_of(args)  # a device this machine lacks is reported before the server starts
    # A plain kill (SIGTERM) stops the server too: it runs in its own session.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(0))
    conf = {"device": args.device, **dict(args.conf)}  # -c device wins over --device
    token = read_token(args.token_file)
    studies = args.studies or str(sample_studies())
    server = MonaiLabelServer(
        studies,
        args.port,
        conf,
        args.app,
        args.host,
        echo=True,
        token=token,
        insecure=args.insecure_no_auth,
    )
    with server:
        print(f"MONAI Label server with the msklabel app at {server.url} (studies: {studies})")
        if token:
            print("Every request needs the token (in Slicer: any user name, the token as password)")
        print(f"OHIF viewer: {server.url}/ohif/  (Ctrl-C stops)")
        try:
            return server.wait()
        except KeyboardInterrupt:
            return 0
