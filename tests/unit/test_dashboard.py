"""deploy/grafana/vool-dashboard.json: valid JSON, a Prometheus data source variable,
every panel with a query, every query naming only metrics the code registers, and
every metric of services/common/metrics.py on some panel."""
import json
import re

import pytest
from prometheus_client import REGISTRY

from services.common import metrics   # noqa: F401  registers every vool_* metric
from services.common.config import PROJECT_ROOT

DASHBOARD = PROJECT_ROOT / "deploy" / "grafana" / "vool-dashboard.json"

#: PromQL words that are not metric names (aggregations and functions are followed
#: by "(", so they fall out by that)
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
            "offset", "and", "or", "unless", "inf", "nan"}


def dashboard():
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels(document):
    """Every panel, those inside (collapsed) rows too; rows themselves hold none."""
    for panel in document["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def metric_names(expr):
    """The metric names a PromQL expression reads."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)            # string literals
    text = re.sub(r"\{[^}]*\}", "", text)                       # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)                      # range selectors
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "",
                  text)                                         # label lists
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        following = text[match.end():].lstrip()[:1]
        if following == "(" or word.lower() in KEYWORDS:
            continue
        if text[max(0, match.start() - 1)] in "0123456789.":    # 1e3, 0.5
            continue
        names.add(word)
    return names


def balanced(expr):
    """Brackets closed in order, outside string literals (no PromQL parser is at hand)."""
    stack, pairs = [], {")": "(", "]": "[", "}": "{"}
    for char in re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


def exposed_names():
    """Every sample name the process's registry exposes, by its metric type:
    a counter's ``_total``, a histogram's ``_bucket``, ``_sum`` and ``_count``."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
                "summary": ("", "_sum", "_count"), "gauge": ("",), "info": ("_info",),
                "unknown": ("",)}
    names = set()
    for family in REGISTRY.collect():
        names |= {family.name + suffix for suffix in suffixes.get(family.type, ("",))}
    return names


def test_the_dashboard_is_a_grafana_dashboard_on_a_prometheus_variable():
    document = dashboard()
    assert 36 <= document["schemaVersion"] <= 41
    assert document["uid"] and document["title"]
    [variable] = [v for v in document["templating"]["list"] if v["name"] == "datasource"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    for panel in panels(document):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, \
            panel["title"]
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids))


def test_every_panel_has_queries_and_each_names_only_registered_metrics():
    exposed = exposed_names()
    assert "vool_http_requests_total" in exposed and "process_resident_memory_bytes" in exposed
    for panel in panels(dashboard()):
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert balanced(target["expr"]), f"{panel['title']}: {target['expr']}"
            names = metric_names(target["expr"])
            assert names, f"{panel['title']}: {target['expr']} reads no metric"
            unknown = names - exposed
            assert not unknown, f"{panel['title']}: {sorted(unknown)} are not registered"


def test_every_vool_metric_is_on_the_dashboard():
    read = set()
    for panel in panels(dashboard()):
        for target in panel["targets"]:
            read |= metric_names(target["expr"])
    families = {family.name: family.type for family in REGISTRY.collect()
                if family.name.startswith("vool_")}
    for name, kind in families.items():
        shown = {n for n in read if n == name or n.startswith(name + "_")}
        assert shown, f"{name} ({kind}) is on no panel"


@pytest.mark.parametrize("expr, names", [
    ('histogram_quantile(0.99, sum by (le, route) (rate(vool_http_request_duration_seconds_bucket'
     '{route!="unmatched"}[$__rate_interval])))', {"vool_http_request_duration_seconds_bucket"}),
    ('sum(rate(a_total{status=~"5.."}[5m])) / sum(rate(b_total[5m])) > 0.5e1',
     {"a_total", "b_total"}),
    ("max by (service) (vool_outbox_oldest_age_seconds)", {"vool_outbox_oldest_age_seconds"}),
])
def test_metric_names_are_read_out_of_promql(expr, names):
    assert metric_names(expr) == names
