"""The test bank speaks the merchant's language (VK_LANG), from a .po catalog
that covers every text of its pages."""
from services.testbank import service as testbank
from tests.unit.test_message_catalogs import source_texts


def test_the_texts_of_the_pages_and_of_the_refusals_are_in_the_catalog():
    # that each has its translation, and nothing else is there: test_message_catalogs
    texts = source_texts("services/testbank")
    assert "Pick a demo person" in texts and "Type a valid personal code and a name." in texts


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
