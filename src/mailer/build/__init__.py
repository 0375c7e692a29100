"""The build stage: an issue file becomes a rendered newsletter, with no database.

load (``issue.py``, ``issue_yaml.py``, ``ids.py``, ``translations.py``) → render MJML with
Jinja2 (``render.py``, ``links.py``, ``markdown.py``, ``i18n.py``) → compile (``compile.py``)
→ inline CSS (``inline.py``) → text part (``text.py``); ``pipeline.py`` composes them and
``message.py`` makes RFC 5322 messages. The editor's commands around a build live here too:
``check.py``, ``preview.py`` and ``scaffold.py`` (``mailer init``).

What a build hands on is :class:`mailer.rendered.Rendered` with its ``%%…%%`` tokens; sending
it is the delivery stage's job. What the editor sees (``mailer build``'s files, the preview) is
``for_editor``'s copy: tokens filled with the ``[preview]`` sample reader and harmless links.
"""

from __future__ import annotations

from .pipeline import Built, build_issue, for_editor, issue_languages, write_build

__all__ = ["Built", "build_issue", "for_editor", "issue_languages", "write_build"]
