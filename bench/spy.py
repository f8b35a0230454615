"""Where a service's CPU goes: py-spy's collapsed stacks (``--spy``), summed up.

py-spy samples only a thread that is running (not one waiting in epoll), so each
sample is a slice of CPU time: a function's share of the samples, times the CPU
ms per request the process used in the same window, is its CPU ms per request.

Two views per process:
- **ours**: the deepest frame of Vool's own code (``services/``) on the stack,
  with everything it called (SQLAlchemy, psycopg2, pydantic...): which of our
  functions cost what; samples with no Vool frame go to the library whose frame
  is outermost below nameko/eventlet (the RPC and HTTP machinery);
- **leaf**: the function actually running (self time), by library.
"""
import collections
import re

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
MACHINERY = ("eventlet", "nameko", "greenlet", "threading", "<frozen")


def parse(path):
    """``[(frames, count)]``, frames outermost first, each ``(function, file)``."""
    stacks = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = []
            for frame in stack.split(";"):
                match = FRAME.match(frame)
                frames.append((match["func"], match["file"]) if match else (frame, ""))
            stacks.append((frames, int(count)))
    return stacks


def module_of(file):
    """``sqlalchemy``, ``services/metering/readings.py``, ``stdlib json``..."""
    if "site-packages/" in file:
        rest = file.split("site-packages/", 1)[1]
        return rest.split("/", 1)[0].removesuffix(".py")
    if "/services/" in file or file.startswith("services/"):
        return "services/" + file.split("services/", 1)[1]
    if "/bench/" in file:
        return "bench/" + file.split("/bench/", 1)[1]
    if "/lib/python" in file:
        rest = file.split("/lib/python", 1)[1].split("/", 1)[-1]
        return "stdlib " + rest.split("/", 1)[0].removesuffix(".py")
    return file or "?"


def ours(frames):
    """The deepest Vool frame, else the outermost library frame past the machinery."""
    for func, file in reversed(frames):
        if module_of(file).startswith("services/"):
            return f"{module_of(file)}:{func}"
    for func, file in frames:
        module = module_of(file)
        if not any(module.startswith(m) or module == f"stdlib {m}" for m in MACHINERY):
            return f"{module} ({func})"
    func, file = frames[-1] if frames else ("?", "")
    return f"{module_of(file)} ({func})"


def leaf(frames):
    func, file = frames[-1] if frames else ("?", "")
    return module_of(file)


def summarize(path, cpu_ms_per_request, top=12):
    """``{"samples", "ours": [(name, ms/request)], "leaf": [...]}``."""
    stacks = parse(path)
    total = sum(count for _, count in stacks)
    if not total:
        return {"samples": 0, "ours": [], "leaf": []}
    by_ours, by_leaf = collections.Counter(), collections.Counter()
    for frames, count in stacks:
        by_ours[ours(frames)] += count
        by_leaf[leaf(frames)] += count
    scale = (cpu_ms_per_request or 0.0) / total
    return {"samples": total,
            "ours": [(name, n * scale) for name, n in by_ours.most_common(top)],
            "leaf": [(name, n * scale) for name, n in by_leaf.most_common(top)]}


def attach(summary, spy):
    """Add each spied process's two views to a scenario's summary."""
    by_process = (summary.get("cpu") or {}).get("by_process", {})
    summary["spy"] = {}
    summary["spy_cpu_s"] = spy.cpu_seconds
    for label, path in spy.files.items():
        cpu = by_process.get(label, {}).get("ms_per_request")
        try:
            summary["spy"][label] = {"file": str(path), **summarize(path, cpu)}
        except OSError as exc:
            summary["spy"][label] = {"file": str(path), "error": str(exc)}
    return summary


def lines(summary):
    out = []
    if summary.get("spy"):
        out.append(f"  py-spy itself used {summary.get('spy_cpu_s', 0):.1f} CPU s in the window "
                   "(part of \"other\")")
    for label, views in (summary.get("spy") or {}).items():
        if "error" in views:
            out.append(f"  py-spy {label}: {views['error']}")
            continue
        out.append(f"  py-spy {label} ({views['samples']} samples, {views['file']}), "
                   "CPU ms/request:")
        for view, title in (("ours", "Vool function (with what it calls)"),
                            ("leaf", "running library (self)")):
            out.append(f"    by {title}:")
            out.extend(f"      {ms:6.2f}  {name}" for name, ms in views[view])
    return out
