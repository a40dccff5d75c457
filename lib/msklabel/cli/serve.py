"""``msklabel serve``: the MONAI Label server with the msklabel app."""

from __future__ import annotations

import argparse
import signal
import sys

from msklabel.cli.device import add_device_option, device_of
from msklabel.cli.runtime import add_runtime_option


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
        "http://127.0.0.1:8042/dicom-web (default: the sample knee); a PACS login is read from "
        "$MONAI_LABEL_DICOMWEB_USERNAME and $MONAI_LABEL_DICOMWEB_PASSWORD",
    )
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1); any other needs users or a token",
    )
    parser.add_argument(
        "--users-file",
        help="users with roles (annotator: infer, save labels; admin: also train, upload, "
        "delete, download the dataset); log in with name and password",
    )
    parser.add_argument(
        "--add-user",
        nargs=2,
        metavar=("NAME", "ROLE"),
        help="add a user (ROLE annotator or admin) to --users-file and exit; the password is "
        "asked for (or read from standard input)",
    )
    parser.add_argument(
        "--token-file",
        help="file whose first line is a shared token with the admin role "
        "(default: $MSKLABEL_TOKEN; at least 16 characters)",
    )
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve beyond loopback without a token (anyone reaching it can delete data)",
    )
    parser.add_argument(
        "--tls",
        nargs=2,
        metavar=("CERT", "KEY"),
        help="serve HTTPS with this PEM certificate (chain) and key",
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
    add_runtime_option(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from msklabel.labeling.studies import sample_studies
    from msklabel.security.auth import read_token
    from msklabel.serve import MonaiLabelServer

    if args.add_user:
        return _add_user(args.users_file, *args.add_user)
    device_of(args)  # a device this machine lacks is reported before the server starts
    # A plain kill (SIGTERM) stops the server too: it runs in its own session.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(0))
    runtime = {} if args.runtime is None else {"runtime": args.runtime}
    conf = {"device": args.device, **runtime, **dict(args.conf)}  # -c wins over --device etc.
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
        users_file=args.users_file,
        tls=args.tls,
    )
    with server:
        print(f"MONAI Label server with the msklabel app at {server.url} (studies: {studies})")
        if args.users_file:
            print("Every request needs a login (in Slicer: a user name and its password)")
        if token:
            print("The shared token logs in as admin (in Slicer: any user name, the token as "
                  "password)")  # fmt: skip
        print(f"OHIF viewer: {server.url}/ohif/  (Ctrl-C stops)")
        try:
            return server.wait()
        except KeyboardInterrupt:
            return 0


def _add_user(users_file: str | None, name: str, role: str) -> int:
    import getpass
    from pathlib import Path

    from msklabel.errors import InputError
    from msklabel.security.users import read_users, user_line

    if not users_file:
        raise InputError("--add-user", "give the file with --users-file")
    path = Path(users_file)
    if path.exists() and name in read_users(path):
        raise InputError(path, f"user {name} is already there (edit the file to remove it)")
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            raise InputError("--add-user", "the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        line = user_line(name, role, password)
    except ValueError as error:
        raise InputError("--add-user", str(error)) from error
    with path.open("a") as out:
        path.chmod(0o600)
        out.write(line + "\n")
    print(f"{path}: added {name} ({role})")
    return 0
