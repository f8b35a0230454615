"""The portal's pages as HTML: Jinja2 templates (autoescaped) in the visitor's
language. Knows nothing of routes or services."""
from pathlib import Path

from jinja2 import FileSystemLoader, select_autoescape
from werkzeug.wrappers import Response

from services.common import formats
from services.common.translations import environments, translations
from services.common.translations import N_
from services.gateway import refusals

HERE = Path(__file__).parent
LANGUAGES = ("et", "en")
DEFAULT_LANGUAGE = "et"

LANGUAGE_COOKIE = "vool_lang"


#: the templates in each language; their texts are English msgids, Estonian in
#: locale/et/LC_MESSAGES/messages.po (a text it lacks shows in English)
TEMPLATES = environments(FileSystemLoader(HERE / "templates"), HERE / "locale", LANGUAGES,
                         autoescape=select_autoescape(["html"]))


def _install_formats(env, language):
    """Dates, months, money and numbers in the page's language (formats.py, Babel)."""
    env.filters.update({
        "day": lambda value, short=False: formats.day(value, language, short) if value else "",
        "month": lambda period: formats.month(period, language),
        "moment": lambda value: formats.moment(value, language) if value else "",
        "money": lambda amount: formats.money(amount, language),
        "number": lambda value: formats.number(value, language),
        "typed_day": lambda value: formats.typed_day(value, language),
    })
    # a refusal's field error, in the page's language (the refusals catalog)
    env.globals["field_message"] = lambda error: refusals.describe(error, language)
    env.globals["problem_message"] = lambda code, params, fallback: refusals.describe_problem(
        code, params or {}, language, fallback)


for _language, _env in TEMPLATES.items():
    _install_formats(_env, _language)


def language_of(request):
    """The visitor's choice (the switch in the header), else their browser's
    preference, else Estonian."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def words(request, text):
    """A text of ours in the page's language (for what Python says on a page)."""
    return translations(str(HERE / "locale"), language_of(request)).gettext(text)


#: pages carry personal data: not kept by caches or the Back button after logout,
#: never framed by another site, never sniffed into another type
PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                "Content-Security-Policy": "frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def render(request, template, status=200, **values):
    """A page, in the visitor's language."""
    language = language_of(request) if request is not None else DEFAULT_LANGUAGE
    page = TEMPLATES[language].get_template(template).render(language=language, **values)
    return Response(page, status=status, content_type="text/html; charset=utf-8",
                    headers=PAGE_HEADERS)


#: the error pages' titles (services/gateway/problems.py), marked here for the catalog
ERROR_TITLES = (
    N_("A service is unavailable"), N_("Authentication is required"), N_("Bad request"),
    N_("Conflict"), N_("Internal error"), N_("Method not allowed"), N_("Not allowed"),
    N_("Not found"), N_("Request Entity Too Large"),
    N_("The request body is not valid JSON"), N_("The request is not valid"),
    N_("Too many attempts"), N_("Unsupported media type"), N_("Something went wrong"))


def error_page(request, status, title, detail, errors=(), code=None):
    """A refusal as a page; ``code`` (the problem's) says it in the page's language
    (services.gateway.refusals), ``detail`` when the catalog has no words for it."""
    return render(request, "error.html", status=status, title=title, detail=detail,
                  errors=list(errors), code=code or {404: "not-found"}.get(status),
                  status_code=status)


def wants_page(request):
    """A browser asking for something outside the API: it gets a page, not JSON."""
    return (not request.path.startswith("/api/") and request.path != "/health"
            and "text/html" in request.headers.get("Accept", ""))


def http_error_page(request, exc):
    """An unknown address or a wrong method, as a portal page to a browser outside
    the API; None (problem+json) for anyone else. The web server's ``error_page``."""
    if not wants_page(request):
        return None
    title = {404: "Not found", 405: "Not allowed"}.get(exc.code, "Something went wrong")
    return error_page(request, exc.code or 500, title,
                      words(request, "There is no such page here."))
