"""The ``mailer`` command line: thin commands over the library.

Each command parses its options, calls the library function it is named after,
and lets :class:`~mailer.errors.MailerError` become a clean message and exit 1.
Commands live in one module per area; each module has ``register(group)``.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import threading

from ..config import Config, load_config
from ..errors import MailerError


@dataclass
class State:
    """What every command gets: the config (loaded on first use) and the output flags."""

    config_path: str | None
    debug: bool = False
    quiet: bool = False
    _config: Config | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config


pass_state = click.make_pass_decorator(State)


def console(stderr: bool = False) -> Any:
    """A rich console: colour only on a terminal and without NO_COLOR."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(
        file=stream,
        no_color=bool(os.environ.get("NO_COLOR")),
        highlight=False,
        soft_wrap=not stream.isatty(),
    )


#: command name -> the cli module that registers it; imported only when that command runs,
#: so `mailer build` never pays for SQLAlchemy, the SendGrid client or Starlette.
COMMANDS = {
    "build": "build",
    "check": "build",
    "preview": "build",
    "init": "build",
    "subscribers": "subscribers",
    "lists": "subscribers",
    "send": "send",
    "send-test": "send",
    "campaigns": "send",
    "serve": "track",
    "stats": "track",
    "schedule": "schedule",
    "run-due": "schedule",
    "worker": "schedule",
    "archive": "archive",
    "bounces": "bounces",
}


def progress_bar() -> Any:
    """A transient rich progress bar on stderr for counted work (sends, imports, runs)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console(stderr=True),
        transient=True,
    )


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """SIGTERM/SIGINT set the event: a send stops after its current batch, cleanly."""
    import signal
    import threading

    stop = threading.Event()
    previous = {}

    def handler(signum: int, _frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


#: commands whose work is bounded (one issue): when one is the process's own command, the
#: process runs it without the cyclic garbage collector (a build makes no cycles worth
#: collecting) and, at exit, leaves what it made out of the collector's last pass (a tenth
#: of a `mailer build`'s CPU, issue 15)
ONE_SHOT = frozenset({"build", "check"})


class MailerGroup(click.Group):
    """Loads command modules on demand, and turns MailerError into ``error: …`` on stderr
    and exit 1 (traceback only with --debug)."""

    #: set while the collector waits for the command to be known (see ONE_SHOT)
    gc_paused = False

    def main(self, args: Any = None, *rest: Any, **options: Any) -> Any:
        if args is None and gc.isenabled():  # the process's own command line (console script)
            gc.disable()
            self.gc_paused = True
        return super().main(args, *rest, **options)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module = importlib.import_module(f"{__name__}.{COMMANDS[cmd_name]}")
            module.register(self)
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MailerError as exc:
            debug = "--debug" in sys.argv or os.environ.get("MAILER_DEBUG") == "1"
            if debug:
                raise
            from ..backends.base import redact

            click.echo(f"error: {redact(str(exc))}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=MailerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: ./mailer.toml).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs (secrets stay hidden).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and essential output.")
@click.version_option(package_name="mailer")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, debug: bool, quiet: bool) -> None:
    """Build HTML email newsletters from YAML + Markdown issues and send them.

    \b
    Example:
        mailer build issues/2018-03-iom-turkey.yaml -o out/
    """
    level = logging.DEBUG if debug else (logging.ERROR if quiet else logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # the sendgrid client logs request headers (the API key) at DEBUG: never let it
    logging.getLogger("python_http_client").setLevel(logging.WARNING)
    ctx.obj = State(config_path=config_path, debug=debug, quiet=quiet)
    group = ctx.command
    if isinstance(group, MailerGroup) and group.gc_paused:
        group.gc_paused = False
        if ctx.invoked_subcommand in ONE_SHOT:
            atexit.register(gc.freeze)
        else:
            gc.enable()


def run() -> None:  # pragma: no cover - console entry alias
    main()


__all__ = ["Path", "State", "console", "main", "pass_state", "progress_bar", "stop_on_signals"]
