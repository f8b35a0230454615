"""Just enough of a browser for the banklink dance: read a page's forms and post them."""
from html.parser import HTMLParser
from urllib.parse import urljoin


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action", ""), "method": attrs.get("method", "get"),
                               "fields": {}, "choices": {}})
        elif tag == "input" and self.forms:
            name, kind = attrs.get("name"), attrs.get("type", "text")
            if not name:
                return
            if kind == "checkbox":     # every box offered; ``fields`` keeps the last
                self.forms[-1]["choices"].setdefault(name, []).append(attrs.get("value"))
            if kind == "radio":
                self.forms[-1]["choices"].setdefault(name, []).append(attrs.get("value"))
                if "checked" in attrs:
                    self.forms[-1]["fields"][name] = attrs.get("value")
            else:
                self.forms[-1]["fields"][name] = attrs.get("value", "")


def forms(page_html, base_url=""):
    parser = _Forms()
    parser.feed(page_html)
    for form in parser.forms:
        form["action"] = urljoin(base_url, form["action"])
    return parser.forms
