"""The test bank speaks the merchant's language (VK_LANG), from a .po catalog
that covers every text of its pages."""
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from services.testbank import service as testbank

HERE = Path(testbank.__file__).parent
METHODS = [("templates/**.html", "jinja2.ext:babel_extract"), ("service.py", "python")]
KEYWORDS = {"_": None, "gettext": None, "text": (2,), "refused": (2,)}


def source_texts():
    return {message for _, _, message, _, _ in extract_from_dir(
        HERE, METHODS, keywords=KEYWORDS, options_map={"**.html": {}})}


def test_every_text_of_the_bank_is_translated_and_nothing_else_is_in_the_catalog():
    with open(HERE / "locale/et/LC_MESSAGES/messages.po", "rb") as po:
        catalog = read_po(po, locale="et")
    translated = {m.id for m in catalog if m.id and m.string}
    texts = source_texts()
    assert "Pick a demo person" in texts and "Type a valid personal code and a name." in texts
    assert texts - translated == set()
    assert translated - texts == set()


def login_page(vk_lang):
    fields = {"VK_SERVICE": "4011", "VK_LANG": vk_lang}
    return testbank.page("login.html", testbank.language_of(fields), merchant_name="Vool",
                         request_fields=fields, persons=[{"name": "Õie Mäger",
                                                          "person_code": "44903136520"}]
                         ).get_data(as_text=True)


def test_the_login_page_is_in_estonian_or_english_as_the_merchant_asks():
    estonian, english = login_page("EST"), login_page("ENG")
    assert '<html lang="et">' in estonian and "Vali demoisik" in estonian
    assert "Isikukood" in estonian and "Pick a demo person" not in estonian
    assert '<html lang="en">' in english and "Pick a demo person" in english
    assert '<html lang="et">' in login_page("RUS")       # a language it does not have


def test_a_refusal_is_in_the_pages_language():
    assert "Vali isik." in testbank.refused("et", "Pick a person.").get_data(as_text=True)
    assert "Pick a person." in testbank.refused("en", "Pick a person.").get_data(as_text=True)
