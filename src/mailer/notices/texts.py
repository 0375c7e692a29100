"""The confirmation email's words in English, Turkish and Arabic (a small table: three
short messages do not need a gettext catalogue). Other languages get English."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConfirmTexts:
    """What the double opt-in email says, in one language."""

    language: str
    direction: str
    subject: str  # {newsletter}
    greeting: str  # {name}
    body: str  # {newsletter}, {list}
    button: str
    expires: str  # {hours}
    ignore: str


_TEXTS = {
    "en": ConfirmTexts(
        "en",
        "ltr",
        "Please confirm your subscription to {newsletter}",
        "Hello {name},",
        "You (or someone using your address) asked to receive {newsletter} ({list}). "
        "Please confirm on the page this link opens:",
        "Confirm my subscription",
        "The link works for {hours} hours.",
        "If you did not ask for this, ignore this email: you will receive nothing more.",
    ),
    "tr": ConfirmTexts(
        "tr",
        "ltr",
        "{newsletter} aboneliğinizi onaylayın",
        "Merhaba {name},",
        "Siz (ya da adresinizi kullanan biri) {newsletter} ({list}) almak istediniz. "
        "Lütfen bu bağlantının açtığı sayfada onaylayın:",
        "Aboneliğimi onayla",
        "Bağlantı {hours} saat geçerlidir.",
        "Bunu siz istemediyseniz bu e-postayı yok sayın: başka bir şey almayacaksınız.",
    ),
    "ar": ConfirmTexts(
        "ar",
        "rtl",
        "يرجى تأكيد اشتراكك في {newsletter}",
        "مرحبًا {name}،",
        "طلبتَ (أو طلب شخص يستخدم عنوانك) تلقي {newsletter} ({list}). "
        "يرجى التأكيد في الصفحة التي يفتحها هذا الرابط:",
        "تأكيد اشتراكي",
        "يعمل الرابط لمدة {hours} ساعة.",
        "إذا لم تطلب ذلك فتجاهل هذه الرسالة: لن تتلقى شيئًا آخر.",
    ),
}


def confirmation_texts(language: str | None) -> ConfirmTexts:
    """The texts for *language* (its primary subtag; English when there are none)."""
    primary = (language or "en").split("-")[0].lower()
    return _TEXTS.get(primary, _TEXTS["en"])
