"""Configuration, read in one place.

A setting is looked up in the nameko container config first (tests inject values
there), then in the process environment, then falls back to its default.
"""
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_AMQP_URI = "amqp://guest:guest@localhost:5672/"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def setting(config, name, default=None):
    if config and config.get(name) not in (None, ""):
        return config[name]
    value = os.environ.get(name)
    if value not in (None, ""):
        return value
    return default


def int_setting(config, name, default):
    return int(setting(config, name, default))


def float_setting(config, name, default):
    return float(setting(config, name, default))


def amqp_uri(config=None):
    return setting(config, "AMQP_URI", DEFAULT_AMQP_URI)


def var_dir(config=None):
    return Path(setting(config, "VOOL_VAR_DIR", PROJECT_ROOT / "var"))


def database_url(config, service_name):
    """The database of one service.

    1. ``VOOL_<SERVICE>_DATABASE_URL``: a complete URL for that service alone;
    2. ``DATABASE_URL``: a PostgreSQL server; each service gets its own database,
       named after the URL's database plus ``_<service>`` (``vool`` if none);
    3. otherwise a SQLite file ``<VOOL_VAR_DIR>/<service>.sqlite3``.
    """
    own = setting(config, f"VOOL_{service_name.upper()}_DATABASE_URL")
    if own:
        return own
    shared = setting(config, "DATABASE_URL")
    if shared:
        return per_service_url(shared, service_name)
    directory = var_dir(config)
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / (service_name + '.sqlite3')}"


def per_service_url(server_url, service_name):
    parts = urlsplit(server_url)
    base = parts.path.strip("/") or "vool"
    scheme = parts.scheme
    if scheme in ("postgres", "postgresql"):
        scheme = "postgresql+psycopg2"
    return urlunsplit((scheme, parts.netloc, f"/{base}_{service_name}",
                       parts.query, parts.fragment))


QUEUE_TYPES = ("classic", "quorum")


def queue_type(config=None):
    """``VOOL_QUEUE_TYPE``: the RabbitMQ type of every queue that holds work."""
    value = str(setting(config, "VOOL_QUEUE_TYPE", "classic")).strip().lower()
    if value not in QUEUE_TYPES:
        raise ValueError(f"VOOL_QUEUE_TYPE must be one of {', '.join(QUEUE_TYPES)}, not {value!r}")
    return value
