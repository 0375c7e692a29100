"""mailer: code-first HTML email newsletters.

Use as a library::

    from mailer import load_config, build_issue
    rendered = build_issue("issues/2018-03-iom-turkey.yaml", load_config("mailer.toml"))
    print(rendered.subject, len(rendered.html))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import Config, load_config
from .errors import MailerError
from .lazy import lazy_exports

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .build.pipeline import build_issue as build_issue

__all__ = ["Config", "MailerError", "build_issue", "load_config"]


# keep `import mailer` light: heavy stages are imported on first use
__getattr__ = lazy_exports(__name__, {"build_issue": ".build.pipeline"})
