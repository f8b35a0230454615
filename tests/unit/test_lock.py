"""The locks name, pinned and hashed, every dependency pyproject.toml asks for.

`make install` and CI install requirements/test.lock, the Dockerfile requirements/runtime.lock,
both with --require-hashes: a dependency added to pyproject.toml but not to the locks
(`make lock`) would only fail there, so it fails here first.
"""
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement):
    return canonical(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1))


def locked(path):
    """{name: (version, number of hashes)} of a `uv pip compile --generate-hashes` file."""
    text = (ROOT / path).read_text()
    pins = {}
    # an entry: `name==version \` then its `--hash=sha256:...` lines
    for entry in re.split(r"\n(?=\S)", text):
        head = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", entry)
        if head:
            pins[canonical(head.group(1))] = (head.group(2).rstrip(" \\"),
                                              len(re.findall(r"--hash=sha256:[0-9a-f]{64}", entry)))
    return pins


@pytest.mark.parametrize("lock, requirements", [
    ("requirements/runtime.lock", PROJECT["dependencies"]),
    ("requirements/test.lock", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]),
])
def test_the_lock_pins_and_hashes_every_dependency_of_pyproject(lock, requirements):
    pins = locked(lock)
    for requirement in requirements:
        name = requirement_name(requirement)
        assert name in pins, f"{lock} lacks {name} (run `make lock`)"
        version, hashes = pins[name]
        assert hashes, f"{lock} pins {name}=={version} without a hash"
        exact = re.search(r"==\s*([^\s,;]+)", requirement)
        if exact:
            assert version == exact.group(1), \
                f"{lock} has {name}=={version}, pyproject.toml asks {requirement!r} (run `make lock`)"


def test_every_locked_package_has_a_hash():
    for lock in ("requirements/runtime.lock", "requirements/test.lock"):
        unhashed = [name for name, (_, hashes) in locked(lock).items() if not hashes]
        assert not unhashed, f"{lock} pins without hashes: {unhashed}"
