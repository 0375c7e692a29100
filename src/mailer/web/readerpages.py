"""The reader's pages of ``mailer serve`` in the brand's colours: the sign-up form, its
answers, the confirmation page and the preference page (HTML only; the routes live in
``subscribe.py`` and ``preferences.py``).

Every page: ``lang`` and ``dir``, a title, one ``h1``, real ``<form>`` s with labelled
fields that work without JavaScript, visible focus, no outside resources.
"""

from __future__ import annotations

from ..config import Settings
from .pages import document, escape

_STYLE = """body{{font-family:{font};margin:0;background:{bg};color:{text};line-height:1.5}}
main{{max-width:34rem;margin:2rem auto;padding:2rem;background:{content};border-radius:8px}}
h1{{font-size:1.4rem;margin-top:0;color:{primary}}}
label{{display:block;font-weight:600;margin:1rem 0 .3rem}}
input[type=email],input[type=text],select{{font:inherit;width:100%;box-sizing:border-box;
padding:.55rem;border:1px solid {muted};border-radius:4px;background:#fff;color:#1f2933}}
fieldset{{border:0;padding:0;margin:1rem 0}} legend{{font-weight:600}}
fieldset label{{display:inline;font-weight:400;margin:0 0 0 .3rem}}
.hp{{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}}
button{{font:inherit;font-size:1.05rem;margin-top:1.2rem;padding:.7rem 1.4rem;border:0;
border-radius:6px;background:{primary};color:{on_primary};cursor:pointer}}
button.quiet{{background:#fff;color:{primary};border:2px solid {primary}}}
:focus{{outline:3px solid #f5a623;outline-offset:2px}}
a{{color:{primary}}} .note{{color:{muted};font-size:.95rem}} .error{{color:#a4001d}}
"""


def page(settings: Settings, title: str, body: str, lang: str = "en") -> str:
    """A whole page around *body* (HTML) in the brand's colours."""
    b = settings.brand
    on_primary = getattr(b, "on_primary_color", None) or "#ffffff"
    style = _STYLE.format(
        font=b.font_family.replace("{", "").replace("}", ""),
        bg=escape(b.background_color),
        text=escape(b.text_color),
        content=escape(b.content_background),
        primary=escape(b.primary_color),
        muted=escape(b.muted_color),
        on_primary=escape(on_primary),
    )
    rtl = lang.split("-")[0] in ("ar", "fa", "he", "ur")
    return document(title, style, body, lang, ' dir="rtl"' if rtl else "")


def language_name(code: str) -> str:
    """*code*'s name in its own language (Türkçe, العربية), else the code."""
    try:
        from babel import Locale

        return str(Locale.parse(code.replace("-", "_")).get_display_name() or code)
    except Exception:  # an unknown code still shows
        return code


def consent_text(settings: Settings, list_name: str) -> str:
    """What the reader agrees to (shown on the form and stored with the consent)."""
    org = settings.organisation or settings.name
    return (
        f"I want to receive {settings.name} ({list_name}) by email from {org}. "
        "I can unsubscribe at any time with the link in every email."
    )


def form_html(settings: Settings, list_name: str, action: str = "/subscribe") -> str:
    """The sign-up ``<form>`` alone (the page's, and ``mailer subscribers form``'s)."""
    options = "\n".join(
        f'<option value="{escape(c)}"{" selected" if c == settings.default_language else ""}>'
        f"{escape(language_name(c))}</option>"
        for c in settings.languages
    )
    return (
        f'<form method="post" action="{escape(action)}" accept-charset="utf-8">\n'
        f'<input type="hidden" name="list" value="{escape(list_name)}">\n'
        '<label for="mailer-email">Email address</label>\n'
        '<input id="mailer-email" type="email" name="email" required autocomplete="email">\n'
        '<label for="mailer-name">Name (optional)</label>\n'
        '<input id="mailer-name" type="text" name="name" maxlength="200" autocomplete="name">\n'
        '<label for="mailer-language">Language</label>\n'
        f'<select id="mailer-language" name="language">\n{options}\n</select>\n'
        '<div class="hp" aria-hidden="true" style="position:absolute;left:-10000px;'
        'width:1px;height:1px;overflow:hidden"><label for="mailer-website">Leave this empty'
        '</label><input id="mailer-website" type="text" name="website" tabindex="-1" '
        'autocomplete="off"></div>\n'
        f'<p class="note">{escape(consent_text(settings, list_name))}</p>\n'
        '<button type="submit">Subscribe</button>\n'
        "</form>"
    )


def signup_page(settings: Settings, list_name: str, error: str = "") -> str:
    """GET /subscribe?list=NAME."""
    err = f'<p class="error" role="alert">{escape(error)}</p>\n' if error else ""
    return page(
        settings,
        f"Subscribe to {settings.name}",
        f"<h1>Subscribe to {escape(settings.name)}</h1>\n{err}{form_html(settings, list_name)}",
    )


def check_inbox(settings: Settings) -> str:
    """POST /subscribe: the one answer, whatever the address's state."""
    return page(
        settings,
        "Check your inbox",
        "<h1>Check your inbox</h1>\n<p>If the address can receive the newsletter, an email "
        "with a confirmation link is on its way. Open it and press the button on the page "
        "it opens to confirm. Nothing is sent until you do.</p>",
    )


def simple(settings: Settings, title: str, text: str, lang: str = "en") -> str:
    """A page with a heading and one paragraph (errors, "done")."""
    return page(settings, title, f"<h1>{escape(title)}</h1>\n<p>{text}</p>", lang)


def confirm_page(settings: Settings, list_name: str) -> str:
    """GET /confirm/<token>: one button that POSTs the confirmation (a GET never confirms)."""
    return page(
        settings,
        f"Confirm your subscription to {settings.name}",
        f"<h1>Confirm your subscription</h1>\n<p>Press the button to receive "
        f"{escape(settings.name)} ({escape(list_name)}).</p>\n"
        '<form method="post">\n<button type="submit">Confirm my subscription</button>\n</form>',
    )
