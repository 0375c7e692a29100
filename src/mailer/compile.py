"""MJML → HTML with mjml-python (MRML, in process, well under a millisecond per issue).

mjml-python raises only on XML errors; unknown tags and bad attribute values pass
silently, which is why the tests also validate our MJML with the MJML reference
(npm ``mjml@5``, ``validationLevel: "strict"``).
"""

from __future__ import annotations

import re

from .errors import RenderError

#: what MRML writes that mail clients do not support (caniemail: Gmail ignores ``target``
#: and ``cursor``); removing it changes nothing a reader sees
_UNSUPPORTED = re.compile(r' target="_blank"|cursor:auto;')


def compile_mjml(mjml: str) -> str:
    """The HTML document of *mjml*. Raises :class:`RenderError` when the MJML is not valid XML."""
    import mjml as mjml_python

    try:
        html: str = mjml_python.mjml2html(mjml, disable_comments=True, fonts={})
    except (ValueError, RuntimeError) as exc:
        raise RenderError(
            f"the MJML could not be compiled: {exc}",
            hint="a template produced invalid MJML; run `mailer build` and read index.mjml.",
        ) from None
    return _UNSUPPORTED.sub("", html)
