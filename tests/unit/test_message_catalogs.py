"""Every text a customer reads is in a catalog a translator can edit.

For each package with a ``locale/`` directory, the texts its sources mark (babel.cfg
says where and how: the same mapping ``make messages`` extracts with) each have a
translation in every ``locale/<language>/LC_MESSAGES/messages.po`` (Estonian at
least): not empty, not fuzzy, with placeholders that fit; and the catalog holds no
translation of a text the sources no longer have. A failure lists the texts, with
where they are, and says what to do.
"""
import re
from pathlib import Path

import pytest
from babel.messages.catalog import PYTHON_FORMAT
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
REQUIRED_LANGUAGES = ("et",)
TO_TRANSLATE = ("`make messages` adds each to the .po: give it its msgstr "
                "(README, \"Texts and translations\")")
TO_DROP = "`make messages` drops them from the .po"


def packages():
    """Every package that keeps a catalog, found by its locale/ directory (as `make messages`)."""
    return sorted(path.parent.relative_to(ROOT).as_posix()
                  for path in (ROOT / "services").rglob("locale")
                  if path.is_dir() and "templates" not in path.parts)


def source_texts(package):
    """msgid -> where it is, as Babel extracts it from the package's sources."""
    with open(ROOT / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config, "babel.cfg")
    texts = {}
    for filename, lineno, message, _, _ in extract_from_dir(
            ROOT / package, method_map, options_map):
        msgid = message if isinstance(message, str) else tuple(message[:2])
        texts.setdefault(msgid, []).append(f"{package}/{filename}:{lineno}")
    return texts


def catalogs(package):
    """language -> (its .po's path, the catalog read from it)."""
    found = {}
    for po_path in sorted((ROOT / package / "locale").glob("*/LC_MESSAGES/messages.po")):
        language = po_path.parts[-3]
        with open(po_path, "rb") as po:
            found[language] = (po_path.relative_to(ROOT), read_po(po, locale=language))
    return found


def shown(msgid):
    return " | ".join(msgid) if isinstance(msgid, tuple) else msgid


def report(title, what_to_do, lines):
    return f"{title}; {what_to_do}:\n" + "\n".join(f"  {line}" for line in lines)


@pytest.fixture(scope="module", params=packages())
def package(request):
    return request.param


def test_the_packages_are_found_by_their_locale_directories():
    assert {"services/billing", "services/notifications", "services/testbank"} <= set(packages())


def test_the_sources_mark_their_texts(package):
    # a package whose extraction finds nothing has its mapping wrong, not no texts
    assert source_texts(package), f"{package}: babel.cfg finds no texts in its sources"


def test_every_language_the_project_speaks_has_a_catalog(package):
    missing = [language for language in REQUIRED_LANGUAGES if language not in catalogs(package)]
    assert not missing, (f"{package}: no locale/<language>/LC_MESSAGES/messages.po for "
                         f"{missing} (`pybabel init -i {package}/locale/messages.pot "
                         f"-d {package}/locale -l <language>` after `make messages`)")


def test_every_text_has_a_translation(package):
    texts = source_texts(package)
    problems = []
    for language, (po_path, catalog) in catalogs(package).items():
        for msgid, where in texts.items():
            message = catalog.get(msgid)
            strings = (message.string if isinstance(message.string, (list, tuple))
                       else [message.string]) if message else []
            if message is None:
                why = "not in the catalog"
            elif not all(strings):
                why = "no translation"
            elif message.fuzzy:
                why = "fuzzy (a guess from a similar text: check it, then drop the flag)"
            else:
                continue
            problems.append(f"{po_path} [{language}]: {why}: {shown(msgid)!r}  ({where[0]})")
    assert not problems, report(f"{package}: {len(problems)} texts without a translation",
                                TO_TRANSLATE, problems)


def test_the_catalog_translates_only_texts_the_sources_have(package):
    texts = source_texts(package)
    problems = [f"{po_path} [{language}]: {shown(message.id)!r}"
                for language, (po_path, catalog) in catalogs(package).items()
                for message in catalog
                if message.id and message.id not in texts]
    assert not problems, report(
        f"{package}: {len(problems)} translations of texts no source has any more", TO_DROP,
        problems)


_NAMED = re.compile(r"%\((\w+)\)")


def test_the_placeholders_of_each_translation_fit_its_text(package):
    texts = source_texts(package)
    problems = []
    for language, (po_path, catalog) in catalogs(package).items():
        # Babel's checkers: the number of plural forms; a python-format text's
        # translation has no placeholder the text lacks, of a compatible type
        for message, errors in catalog.check():
            if message.id in texts:
                problems += [f"{po_path} [{language}]: {shown(message.id)!r}: {error}"
                             for error in errors]
        # ... which Babel skips when the text has no placeholder at all; a template
        # formats every text, so a stray one there fails when the message is sent
        for message in catalog:
            if message.id in texts and not message.pluralizable and message.string \
                    and not PYTHON_FORMAT.search(message.id) \
                    and _NAMED.search(message.string):
                problems.append(f"{po_path} [{language}]: {shown(message.id)!r}: "
                                f"placeholder in {message.string!r}, the text has none")
    assert not problems, report(
        f"{package}: {len(problems)} translations whose placeholders do not fit",
        "a placeholder is a value filled in: keep its name as it is", problems)


def test_a_missing_translation_is_reported_with_the_text_and_where_it_is(tmp_path, monkeypatch):
    """The failure a translator or developer sees names the text and its place."""
    package_dir = tmp_path / "services" / "example"
    (package_dir / "templates").mkdir(parents=True)
    (package_dir / "locale" / "et" / "LC_MESSAGES").mkdir(parents=True)
    (package_dir / "texts.py").write_text(
        'def N_(text):\n    return text\n\nHELLO = N_("Hello")\nBYE = N_("Goodbye, %(name)s")\n')
    (package_dir / "templates" / "page.html").write_text("<p>{{ _('On a page') }}</p>\n")
    (package_dir / "locale" / "et" / "LC_MESSAGES" / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: et\\n"\n'
        '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n\n'
        'msgid "Hello"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgid "Goodbye, %(name)s"\nmsgstr "Head aega, %(nimi)s"\n\n'
        'msgid "Gone"\nmsgstr "Läinud"\n', encoding="utf-8")
    (tmp_path / "babel.cfg").write_text((ROOT / "babel.cfg").read_text())
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)

    assert packages() == ["services/example"]
    with pytest.raises(AssertionError) as missing:
        test_every_text_has_a_translation("services/example")
    said = str(missing.value)
    assert "3 texts without a translation" in said and "make messages" in said
    assert "no translation: 'Hello'  (services/example/texts.py:4)" in said
    assert "not in the catalog: 'On a page'  (services/example/templates/page.html:1)" in said
    assert "fuzzy (a guess from a similar text: check it, then drop the flag): " \
        "'Goodbye, %(name)s'  (services/example/texts.py:5)" in said
    with pytest.raises(AssertionError) as stale:
        test_the_catalog_translates_only_texts_the_sources_have("services/example")
    assert "'Gone'" in str(stale.value) and "'Hello'" not in str(stale.value)
    with pytest.raises(AssertionError) as placeholders:
        test_the_placeholders_of_each_translation_fit_its_text("services/example")
    assert "unknown named placeholder 'nimi'" in str(placeholders.value)
