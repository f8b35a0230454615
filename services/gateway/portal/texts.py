"""The portal's words in Estonian; the templates are written in English.

A text missing here shows in English (and escaped like any value): add it here
when adding it to a template. What the services say (a refused reading's reason,
a bank's refusal) comes as they say it.
"""
LANGUAGES = ("et", "en")
DEFAULT_LANGUAGE = "et"

ESTONIAN = {
    # the frame and logging in
    "Log in": "Sisselogimine",
    "Log in through your bank": "Logi sisse oma panga kaudu",
    "Your internet bank tells us who you are; we never see your bank password.":
        "Sinu internetipank ütleb meile, kes sa oled; sinu panga parooli me ei näe.",
    "No bank is available for logging in.": "Ühegi panga kaudu ei saa praegu sisse logida.",
    "Logging in is not possible right now; try again shortly.":
        "Sisselogimine ei ole praegu võimalik; proovi varsti uuesti.",
    "Your session has ended; log in again.": "Sinu seanss on lõppenud; logi uuesti sisse.",
    "To your bank": "Panka",
    "On to your bank": "Edasi panka",
    "Continue to the bank": "Jätka panka",
    "Log out": "Logi välja",
    "Back to the start": "Tagasi algusesse",
    "There is no such page here.": "Sellist lehte siin ei ole.",
    # error titles (services/gateway/problems.py)
    "Something went wrong": "Midagi läks valesti",
    "Authentication is required": "Palun logi sisse",
    "Not allowed": "Ei ole lubatud",
    "Not found": "Ei leitud",
    "Conflict": "Vastuolu",
    "Too many attempts": "Liiga palju katseid",
    "The request is not valid": "Andmetes on viga",
    "A service is unavailable": "Teenus ei ole praegu kättesaadav",
    # a customer's section
    "(you act for them under a mandate)": "(tegutsed tema eest volitusega)",
    "Not shown right now (a service is unavailable; try again shortly): %(part)s":
        "Praegu ei saa näidata (teenus ei ole kättesaadav; proovi varsti uuesti): %(part)s",
    "consumption points and readings": "tarbimiskohad ja näidud",
    "invoices": "arved",
    "contact details and messages": "kontaktandmed ja teated",
    "mandates": "volitused",
    "claims": "taotlused",
    "messages to the desk": "kirjad klienditeenindusele",
    "Consumption points": "Tarbimiskohad",
    "meter": "arvesti",
    "Last reading:": "Viimane näit:",
    "none yet": "veel pole",
    "Next reading due:": "Järgmine näit:",
    "Reading accepted, used:": "Näit on vastu võetud, tarbitud:",
    "Thank you. The reading looks unusual, so we are checking it before it is billed; "
    "you will hear from us.":
        "Aitäh. Näit tundub ebatavaline, seepärast kontrollime seda enne arve "
        "koostamist; anname sulle teada.",
    "Date": "Kuupäev",
    "Recent readings": "Viimased näidud",
    "Reading": "Näit",
    "Used": "Tarbitud",
    "accepted": "vastu võetud",
    "held_for_review": "kontrollimisel",
    "Send reading": "Saada näit",
    "No consumption points.": "Tarbimiskohti ei ole.",
    "Invoices": "Arved",
    "pay": "maksa",
    "Invoice": "Arve",
    "Period": "Periood",
    "Due": "Tähtaeg",
    "Total": "Summa",
    "Status": "Olek",
    "unpaid": "tasumata",
    "paid": "tasutud",
    "overdue": "tähtaeg ületatud",
    "Contract %(no)s: your payments reach the reading":
        "Leping %(no)s: sinu maksed katavad tarbimise kuni näiduni",
    "last payment": "viimane makse",
    "Pay the ticked invoices through": "Maksa märgitud arved panga kaudu:",
    "Pay": "Maksa",
    "No invoices yet.": "Arveid veel ei ole.",
    "Contact details": "Kontaktandmed",
    "Postal address": "Postiaadress",
    "Phone": "Telefon",
    "E-mail": "E-post",
    "Language": "Keel",
    "Save": "Salvesta",
    "Messages from us": "Meie teated",
    "Mandates": "Volitused",
    "Who may act for you": "Kes võib sinu eest tegutseda",
    "What": "Mida",
    "Valid": "Kehtib",
    "live": "kehtiv",
    "not_yet_valid": "veel ei kehti",
    "expired": "aegunud",
    "revoked": "tühistatud",
    "Revoke": "Tühista",
    "Let someone act for you (they must be our customer too):":
        "Luba kellelgi enda eest tegutseda (ta peab olema ka meie klient):",
    "Personal code": "Isikukood",
    "Until": "Kuni",
    "Grant": "Anna volitus",
    "You may act for:": "Võid tegutseda nende eest:",
    "Who used your data under a mandate": "Kes on sinu andmeid volituse alusel kasutanud",
    "When": "Millal",
    "Who": "Kes",
    "read": "vaatas",
    "change": "muutis",
    "A consumption point recorded under someone else?":
        "Tarbimiskoht on kellegi teise nimel?",
    "Address": "Aadress",
    "Meter": "Arvesti",
    "Note": "Märkus",
    "Claim it": "Taotle enda nimele",
    "pending": "ootel",
    "approved": "kinnitatud",
    "rejected": "tagasi lükatud",
    "Write to our service desk": "Kirjuta klienditeenindusele",
    "About": "Teema",
    "proposal": "ettepanek",
    "complaint": "kaebus",
    "question": "küsimus",
    "Subject": "Pealkiri",
    "your message": "sinu sõnum",
    "Send": "Saada",
    "open": "avatud",
    "answered": "vastatud",
    "closed": "suletud",
    "Our answer:": "Meie vastus:",
    # what came of a form
    "Your contact details were changed.": "Sinu kontaktandmed on muudetud.",
    "Thank you: your message is with our service desk.":
        "Aitäh: sinu sõnum on klienditeeninduses.",
    "Your claim is with our service desk; we will tell you what they decide.":
        "Sinu taotlus on klienditeeninduses; anname teada, mida otsustati.",
    "The mandate is granted; they can act for you from today.":
        "Volitus on antud; ta saab sinu eest tegutseda alates tänasest.",
    "The mandate is revoked: it no longer works.": "Volitus on tühistatud: see enam ei kehti.",
    "Thank you: your payment was received.": "Aitäh: sinu makse on kätte saadud.",
    "The payment was cancelled at the bank; nothing was paid.":
        "Makse katkestati pangas; midagi ei makstud.",
}

CATALOGS = {"et": ESTONIAN, "en": {}}
