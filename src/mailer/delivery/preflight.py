"""Pre-flight: everything a send needs, checked before a campaign row exists.

``mailer send`` and ``mailer schedule`` both call :func:`preflight` (and the scheduler's
``validate_issue`` is :func:`validate_issue`), so the two refuse the same things:

* the issue builds in every language for sending, and ``mailer check`` finds no error
  (:func:`refuse_errors` lists them in a :class:`~mailer.errors.PreflightError`);
  warnings are handed back so the confirmation prompt and ``--dry-run`` show them;
* ``MAILER_SECRET_KEY`` is set when ``tracking.base_url`` is (links and unsubscribe
  URLs are signed with it);
* the backend can be set up: ``SENDGRID_API_KEY`` for sendgrid, a valid
  ``MAILER_SMTP_URL`` / ``[smtp] host`` for smtp;
* the list exists (a misspelt name gets "did you mean") and, for a new campaign, has at
  least one recipient who can get the issue.

Nothing here writes to the database.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection

from .. import db
from ..backends import NAMES, get_backend
from ..config import Config
from ..errors import ConfigError, PreflightError, SubscriberError
from ..rendered import Rendered
from .recipients import eligible


@dataclass
class Preflight:
    """What passed the checks: the warnings to show, the list, how many would get it."""

    list_id: int
    recipients: int
    warnings: list[Any] = field(default_factory=list)
    #: the issue built for sending, one per language (empty when the issue was not checked)
    rendered: list[Rendered] = field(default_factory=list)


# -- the list -----------------------------------------------------------------
def find_list_id(conn: Connection, name: str) -> int:
    """The id of list *name*; a SubscriberError with "did you mean" when there is none."""
    found = conn.execute(select(db.lists.c.id).where(db.lists.c.name == name)).scalar()
    if found is not None:
        return int(found)
    names = [
        str(n) for n in conn.execute(select(db.lists.c.name).order_by(db.lists.c.name)).scalars()
    ]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        hint = f"did you mean '{close[0]}'? `mailer lists` shows every list."
    elif names:
        hint = f"the lists are: {', '.join(names[:10])}" + (" …" if len(names) > 10 else "")
    else:
        hint = (
            f"there are no lists yet: import subscribers with "
            f"`mailer subscribers import FILE --list {name}`."
        )
    raise SubscriberError(f"there is no list named '{name}'", hint=hint)


def count_eligible(engine: Engine, list_id: int, campaign_id: int = 0) -> int:
    """Subscribed members of the list not yet queued in *campaign_id* (0: a new one)."""
    with db.read(engine) as conn:
        q = eligible(campaign_id, list_id)
        return int(conn.execute(select(func.count()).select_from(q.subquery())).scalar_one())


# -- the environment ----------------------------------------------------------
def check_environment(config: Config, backend: str | None) -> None:
    """Raise ConfigError when a secret or the backend's credentials are missing or wrong.

    *backend* None: a backend object was given (a test's fake); only secrets are checked."""
    if backend is not None and backend not in NAMES:
        raise ConfigError(f"unknown backend '{backend}'", hint=f"use one of: {', '.join(NAMES)}.")
    if config.settings.tracking.base_url:
        from ..tracking.tokens import SECRET_ENV, load_key

        try:
            load_key(config.secret(SECRET_ENV))
        except ConfigError as exc:
            raise ConfigError(
                "tracking.base_url is set, so links and unsubscribe URLs are signed: "
                + exc.message,
                hint=exc.hint,
            ) from None
    if backend is None:
        return
    if backend == "smtp":
        from ..backends.smtp import smtp_settings

        if not smtp_settings(config).host:
            raise ConfigError(
                "the smtp backend has no server",
                hint="set host in [smtp] of mailer.toml or export MAILER_SMTP_URL=smtp://…",
            )
    else:
        get_backend(backend, config)  # sendgrid: SENDGRID_API_KEY is required


# -- the issue ----------------------------------------------------------------
def _severity(finding: Any) -> str:
    value = getattr(finding, "severity", "error")
    return str(getattr(value, "value", value)).lower()


def refuse_errors(issue_path: Path, findings: Iterable[Any], *, action: str = "sent") -> list[Any]:
    """Raise :class:`PreflightError` listing the error findings; return the others."""
    findings = list(findings)
    errors = [f for f in findings if _severity(f) == "error"]
    if errors:
        listed = "\n".join(f"  - {f}" for f in errors)
        raise PreflightError(
            f"{issue_path} has {len(errors)} error(s); nothing was {action}:\n{listed}",
            hint=f"fix them (see `mailer check {issue_path}`) and try again.",
            findings=errors,
        )
    return [f for f in findings if f not in errors]


def build_and_check(
    issue_path: Path, config: Config, *, action: str = "sent"
) -> tuple[list[Any], list[Rendered]]:
    """Build every language for sending and run ``mailer check``'s checks.

    Raises PreflightError listing the errors; returns (warnings, what was built)."""
    from ..build.check import check_issue
    from ..build.pipeline import build_issue, issue_languages

    path = Path(issue_path)
    rendered = [
        build_issue(path, config, lang=lang, for_send=True)
        for lang in issue_languages(path, config)
    ]
    warnings = refuse_errors(path, check_issue(path, config), action=action)
    return warnings, rendered


def validate_issue(issue_path: Path, config: Config, *, action: str = "scheduled") -> list[Any]:
    """:func:`build_and_check` for the scheduler: returns the warnings."""
    return build_and_check(issue_path, config, action=action)[0]


# -- all of it ----------------------------------------------------------------
def preflight(
    engine: Engine,
    config: Config,
    issue_path: str | Path,
    list_name: str,
    *,
    backend: str | None,
    campaign_id: int = 0,
    check_issue: bool = True,
    action: str = "sent",
) -> Preflight:
    """Check everything a send of *issue_path* to *list_name* needs; write nothing.

    *campaign_id* is an existing campaign being resumed (0: a new one, which must have
    at least one recipient). *check_issue* False skips building and checking the issue
    (a resumed campaign sends the contents stored when it started)."""
    path = Path(issue_path)
    if check_issue and not path.is_file():
        raise PreflightError(f"issue file {path} not found", hint="check the path.")
    with db.read(engine) as conn:
        list_id = find_list_id(conn, list_name)
    check_environment(config, backend)
    warnings: list[Any] = []
    rendered: Sequence[Rendered] = []
    if check_issue:
        warnings, rendered = build_and_check(path, config, action=action)
    n = count_eligible(engine, list_id, campaign_id)
    if not n and not campaign_id:
        raise PreflightError(
            f"list '{list_name}' has nobody who can get the issue (no subscribed members); "
            f"nothing was {action}",
            hint=f"import subscribers with `mailer subscribers import FILE --list {list_name}`.",
        )
    return Preflight(list_id=list_id, recipients=n, warnings=warnings, rendered=list(rendered))
