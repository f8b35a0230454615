"""The chaos run's one table, and docs/reliability.md's generated part."""
import re

COLUMNS = ("scenario", "readings sent", "201", "stored", "lost", "2nd reading",
           "charged 1x/2x/0x", "reminders", "banklink paid/recorded/lost/2x",
           "camt entries/recorded", "new dead letters", "clients saw while faulty",
           "longest s", "500s", "healthy again s", "targets")
BEGIN, END = "<!-- chaos-table:begin -->", "<!-- chaos-table:end -->"


def _row(name, c, targets):
    if "error" in c:
        return [name] + ["-"] * (len(COLUMNS) - 2) + [f"NOT met: the scenario failed ({c['error']})"]
    r, ch, p, cl = c["readings"], c["charges"], c["payments"], c["clients"]
    dead = c["dead_letters_new"]
    dead = "?" if dead is None else str(sum(dead.values()))
    seen = ", ".join(f"{k} x{v}" for k, v in sorted(cl["during_fault"].items(),
                                                     key=lambda kv: -kv[1])) or "nothing"
    healthy = [f["healthy_after_back_s"] for f in c["faults"]]
    healthy = ("never" if any(h is None for h in healthy) else
               f"{max(healthy):.1f}" if healthy else "-")
    met = targets(name, c)
    missed = [t for t, ok in met.items() if not ok]
    return [name, r["sent"], r["answered_201"], r["stored"], r["lost"],
            r["second_reading_same_day"], f"{ch['once']}/{ch['twice']}/{ch['never']}",
            c["reminders"]["written"],
            f"{p['banklink_confirmed']}/{p['banklink_recorded']}/{p['banklink_lost']}/"
            f"{p['banklink_twice']}",
            f"{p['statement_entries']}/{p['statement_recorded']}", dead, seen,
            f"{cl['longest_request_s']:.1f}", cl["http_500"], healthy,
            "all met" if not missed else "NOT met: " + "; ".join(missed)]


def table(results, targets):
    """A Markdown table (readable as text too) and, under it, what each fault did."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for name, counts in results.items():
        lines.append("| " + " | ".join(str(v) for v in _row(name, counts, targets)) + " |")
    lines.append("")
    for name, c in results.items():
        for f in c.get("faults", []):
            back = f["healthy_after_back_s"]
            extra = ""
            if "failover_s" in f:
                extra = (f" — every service healthy on the other nodes {f['failover_s']:.1f} s "
                         "after the kill, the node still down" if f["failover_s"] is not None
                         else " — services NOT healthy on the other nodes while it was down")
            lines.append(f"- {name}: {f['what']}: healthy "
                         + (f"{back:.1f} s after it was back" if back is not None
                            else "not within 120 s") + extra)
        if c.get("queue_types"):
            lines.append(f"- {name}: service queues by type: {c['queue_types']}")
        for death in c.get("died") or []:
            lines.append(f"- {name}: **{death['process']} died on its own** (exit "
                         f"{death['exit']}) and was restarted; its last log line: "
                         f"`{death['last_log_line']}`")
        if c.get("drained_after_s") is None and "error" not in c:
            lines.append(f"- {name}: NOT drained within the drain timeout")
        refused = c.get("readings", {}).get("refused_4xx")
        if refused:
            lines.append(f"- {name}: readings refused (final answer): {refused}")
    return "\n".join(lines)


def write_reliability_doc(path, text, info, when):
    """Replace the generated part of docs/reliability.md (between the markers),
    keeping what people wrote around it."""
    machine = (f"Run {when:%Y-%m-%d %H:%M} UTC on {info.get('cpu', '?')}, "
               f"{info.get('cores', '?')} cores, {info.get('memory', '?')} memory; "
               f"Python {info.get('python', '?')}, nameko {info.get('nameko', '?')}, "
               f"kombu {info.get('kombu', '?')}, RabbitMQ {info.get('rabbitmq', '?')}, "
               f"PostgreSQL {info.get('postgresql', '?')}, {info.get('os', '?')}.")
    block = f"{BEGIN}\n{machine}\n\n{text}\n{END}"
    try:
        doc = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        doc = f"# Reliability\n\n{BEGIN}\n{END}\n"
    if BEGIN in doc and END in doc:
        doc = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda m: block, doc,
                     flags=re.S)
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")
