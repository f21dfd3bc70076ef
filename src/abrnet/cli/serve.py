"""`abrnet serve`: the browser viewer (FastAPI + uvicorn), bound to 127.0.0.1 unless told otherwise.

The viewer shows patient recordings, so it listens on loopback by default; `--host 0.0.0.0` is an explicit choice to
expose it (there is no authentication: put it behind the clinic's own access control).
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path
from typing import Annotated

import typer

from abrnet.cli.common import check_choice, check_range, console, option_error, user_errors

# uvicorn's names (`uvicorn.config.LOG_LEVELS`, read case-blind); an unknown one was a KeyError traceback from
# uvicorn after the model had loaded. Written out: importing uvicorn for a help string slows `abrnet --help`.
LOG_LEVELS: tuple[str, ...] = ("critical", "error", "warning", "info", "debug", "trace")


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0 to 65535).")] = 8000,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Folder for uploads and viewer.sqlite (corrections, who and when).")
    ] = Path("abrnet-viewer"),
    max_upload_mb: Annotated[
        float, typer.Option("--max-upload-mb", help="Largest accepted upload (MB, >= 0.001).")
    ] = 20.0,
    seed: Annotated[int, typer.Option(help="Seed for torch and numpy (inference is deterministic; for parity).")] = 0,
    log_level: Annotated[
        str, typer.Option("--log-level", help=f"uvicorn log level: {', '.join(LOG_LEVELS)}.")
    ] = "warning",
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint", help="Trained checkpoint (e.g. runs/x/best.ckpt); default: the model abrnet ships."
        ),
    ] = None,
) -> None:
    """Serve the viewer: upload recordings, check and correct the model's marks, export CSV and PDF reports."""
    import numpy as np
    import torch
    import uvicorn

    from abrnet.inference.api import load
    from abrnet.viewer.app import create_app

    with user_errors():
        check_range(port, "--port", minimum=0, maximum=65535, integer=True, command="serve")
        check_range(max_upload_mb, "--max-upload-mb", minimum=0.001, command="serve")
        check_choice(log_level.lower(), "--log-level", LOG_LEVELS, command="serve")
        if not host.strip():  # the socket binds "" to every interface: exposing patient data must be explicit
            raise option_error("serve", "--host", "is empty; name an address (0.0.0.0 listens on every interface)")
        if checkpoint is not None and not checkpoint.exists():
            raise FileNotFoundError(2, "no such file", str(checkpoint))
        if data_dir.exists() and not data_dir.is_dir():  # was a NotADirectoryError traceback from the store
            from abrnet.data.schema import DataError

            raise DataError(str(data_dir), "--data-dir", "is a file, not a folder")
        sock = listening_socket(host, port)  # before the model loads and the data folder is made
        torch.manual_seed(seed)
        np.random.seed(seed)
        model = load(checkpoint)
        app = create_app(model, data_dir, max_upload_mb=max_upload_mb)
    port = sock.getsockname()[1]  # --port 0: the one the system chose
    where = f"[{host}]" if ":" in host else host  # an IPv6 address is bracketed in a URL (RFC 3986)
    console.print(f"abrnet viewer on http://{where}:{port}/ (data in {data_dir}); Ctrl-C stops it", highlight=False)
    uvicorn.Server(uvicorn.Config(app, log_level=log_level)).run(sockets=[sock])


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port), handed to uvicorn, or a one-line DataError naming the option.

    Why bound here: uvicorn binds after the banner, so a busy port printed "abrnet viewer on http://…" and then
    its own "[Errno 98] address already in use" with exit 3, after the data folder was made."""

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise option_error("serve", "--host", f"{host!r} is not an address of this machine ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a just-stopped viewer's port
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        field = "--port" if exc.errno in (errno.EADDRINUSE, errno.EACCES) else "--host"
        raise option_error("serve", field, f"cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.set_inheritable(True)
    return sock
