"""Message catalogs a translator can edit: gettext .po files read with Babel.

A package keeps ``locale/<language>/LC_MESSAGES/messages.po``; the source texts
(msgids) are English, so English needs no catalog. Read straight from the .po
(no compiled .mo to forget to rebuild), once per process. Jinja templates use
them through the i18n extension: ``{% trans %}`` and ``_()``.
"""
import gettext
from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po
from jinja2 import Environment

SOURCE_LANGUAGE = "en"


class PoTranslations(gettext.NullTranslations):
    """gettext over a Babel catalog; an untranslated text stays in English."""

    def __init__(self, catalog=None):
        super().__init__()
        self._texts = {}
        for message in catalog or ():
            if message.id and message.string and not message.fuzzy:
                self._texts[message.id] = message.string

    def gettext(self, message):
        text = self._texts.get(message)
        return text if isinstance(text, str) and text else message

    def ngettext(self, singular, plural, n):
        texts = self._texts.get((singular, plural))
        if texts and all(texts):
            return texts[0] if n == 1 else texts[1]
        return singular if n == 1 else plural


def N_(text):
    """Marks an English text for the catalog (babel.cfg) where it is defined; it is
    translated with ``gettext`` where it is shown, in that page's or message's language."""
    return text


def po_path(locale_dir, language):
    return Path(locale_dir) / language / "LC_MESSAGES" / "messages.po"


@lru_cache(maxsize=None)
def translations(locale_dir, language):
    """The catalog of ``language`` under ``locale_dir`` (English: the source)."""
    if language == SOURCE_LANGUAGE:
        return PoTranslations()
    with open(po_path(locale_dir, language), "rb") as po:
        return PoTranslations(read_po(po, locale=language))


def environments(loader, locale_dir, languages, **options):
    """One Jinja environment per language, each with its catalog installed."""
    made = {}
    for language in languages:
        env = Environment(loader=loader, extensions=["jinja2.ext.i18n"], **options)
        env.install_gettext_translations(translations(str(locale_dir), language),
                                         newstyle=True)
        made[language] = env
    return made
