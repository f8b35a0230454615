"""deploy/docker-compose.yml and deploy/Dockerfile, checked without a Docker engine.

Our machines cannot run `docker compose`, so this reads the compose file the way
Compose does (YAML anchors and merge keys resolved, `${VAR:-default}` taken at its
default) and checks what running it depends on.
"""
import importlib
import re
import shlex
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
README = ROOT / "README.md"
NAMEKO_CONFIG = "deploy/config/nameko.yaml"

BACKEND_SERVICES = ("identity", "contracts", "metering", "billing", "notifications")
VOOL_SERVICES = BACKEND_SERVICES + ("gateway",)

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                           r"(?:(?P<op>:?[-?])(?P<default>[^}]*))?\}")


def interpolate(value):
    """A compose value as Compose sees it with none of the variables set."""
    def default(match):
        return match.group("default") if match.group("op") in (":-", "-") else ""
    return INTERPOLATION.sub(default, str(value))


@pytest.fixture(scope="module")
def compose():
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    document = yaml.safe_load(COMPOSE_FILE.read_text())  # resolves anchors and `<<`
    assert isinstance(document.get("services"), dict), "the compose file has no services"
    return document


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


def service(services, name):
    assert name in services, (f"{name!r} is not a service of {COMPOSE_FILE.name} "
                              f"(it has: {', '.join(services)})")
    return services[name]


def as_argv(command):
    """A compose command (exec list or shell string) as an argument list."""
    if command is None:
        return []
    return [str(arg) for arg in command] if isinstance(command, list) else shlex.split(command)


def environment(definition, interpolated=True):
    """A service's environment as a dict, whether written as a map or a list."""
    env = definition.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: (interpolate(value) if interpolated else str(value))
            for key, value in env.items()}


def depends_on(definition):
    """``{service: condition}``, whether written as a list or a map."""
    deps = definition.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started")
            for name, spec in deps.items()}


def healthcheck_argv(definition):
    check = definition.get("healthcheck") or {}
    assert not check.get("disable"), "the healthcheck is disabled"
    test = check.get("test")
    assert test, "no healthcheck test command"
    if isinstance(test, str):
        return shlex.split(test)
    kind, *argv = [str(arg) for arg in test]
    assert kind in ("CMD", "CMD-SHELL"), f"healthcheck test starts with {kind!r}"
    return shlex.split(" ".join(argv)) if kind == "CMD-SHELL" else argv


# --- the Vool services ----------------------------------------------------------------

@pytest.mark.parametrize("name", VOOL_SERVICES)
def test_each_vool_service_runs_its_nameko_module(services, name):
    argv = as_argv(service(services, name).get("command"))
    expected = ["python", "-m", "nameko", "run", "--config", NAMEKO_CONFIG,
                f"services.{name}.service"]
    assert argv == expected, f"{name}: command is {argv}, expected {expected}"
    assert (ROOT / NAMEKO_CONFIG).is_file(), f"{NAMEKO_CONFIG} does not exist"
    assert (ROOT / "services" / name / "service.py").is_file(), \
        f"the command names services.{name}.service, which does not exist"


@pytest.mark.parametrize("name", VOOL_SERVICES)
def test_each_vool_service_is_built_from_the_one_dockerfile(services, name):
    definition = service(services, name)
    build = definition.get("build")
    assert isinstance(build, dict), f"{name}: no build section"
    context = (DEPLOY / build.get("context", ".")).resolve()
    assert context == ROOT, f"{name}: build context is {context}, not the repository root"
    assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE, \
        f"{name}: builds {build.get('dockerfile')!r}, not deploy/Dockerfile"
    assert definition.get("restart") == "unless-stopped", f"{name}: restart policy"


@pytest.mark.parametrize("name", VOOL_SERVICES)
def test_each_vool_service_has_a_healthcheck_naming_it(services, name):
    argv = healthcheck_argv(service(services, name))
    expected = ["python", "-m", "services.healthcheck", name]
    assert argv[:len(expected)] == expected, \
        f"{name}: healthcheck runs {argv}, expected {expected}"


@pytest.mark.parametrize("name", VOOL_SERVICES)
def test_each_vool_service_waits_for_a_healthy_broker_and_database(services, name):
    deps = depends_on(service(services, name))
    for infrastructure in ("rabbitmq", "postgres"):
        assert deps.get(infrastructure) == "service_healthy", \
            f"{name} must depend on {infrastructure} with condition service_healthy " \
            f"(has {deps.get(infrastructure)!r})"


@pytest.mark.parametrize("name", VOOL_SERVICES)
def test_each_vool_service_reaches_rabbitmq_and_postgres_by_service_name(services, name):
    env = environment(service(services, name))
    amqp = urlsplit(env.get("AMQP_URI", ""))
    assert amqp.scheme in ("amqp", "pyamqp") and amqp.hostname == "rabbitmq", \
        f"{name}: AMQP_URI {env.get('AMQP_URI')!r} does not point at the rabbitmq service"
    assert (amqp.port or 5672) == 5672, f"{name}: AMQP_URI port {amqp.port}"
    database = urlsplit(env.get("DATABASE_URL", ""))
    assert database.scheme.startswith("postgres") and database.hostname == "postgres", \
        f"{name}: DATABASE_URL {env.get('DATABASE_URL')!r} does not point at the " \
        "postgres service"
    assert database.path.strip("/") == "vool", \
        f"{name}: DATABASE_URL names database {database.path!r}; services add _<name>"
    assert (database.port or 5432) == 5432, f"{name}: DATABASE_URL port {database.port}"


@pytest.mark.parametrize("name", VOOL_SERVICES)
def test_credentials_are_only_overridable_development_defaults(services, name):
    raw = environment(service(services, name), interpolated=False)
    for variable in ("AMQP_URI", "DATABASE_URL"):
        password = urlsplit(INTERPOLATION.sub("VARIABLE", raw.get(variable, ""))).password
        assert password == "VARIABLE", \
            f"{name}: the password in {variable} must be a ${{VAR:-development default}}; " \
            f"{variable} is {raw.get(variable)!r}"


# --- restarts and replicas -----------------------------------------------------------

def one_shot_jobs(services):
    """The containers others wait to have exited: jobs that run once."""
    return {name for definition in services.values()
            for name, condition in depends_on(definition).items()
            if condition == "service_completed_successfully"}


def test_every_long_running_container_is_restarted_unless_stopped(services):
    jobs = one_shot_jobs(services)
    assert jobs == {"dev-keys"}, jobs
    for name, definition in services.items():
        restart = str(definition.get("restart", "no"))
        if name in jobs:
            # a failed job fails its dependants' start; restarting it would hide that
            assert restart == "no", f"{name} runs once, but restart is {restart!r}"
        else:
            assert restart == "unless-stopped", \
                f"{name}: restart is {restart!r}, so a container that dies stays down"
        # Compose lets deploy.restart_policy override `restart`: none, so there is
        # one policy to read
        assert "restart_policy" not in (definition.get("deploy") or {}), name


def test_backend_services_can_run_as_several_replicas(services):
    for name in BACKEND_SERVICES:
        definition = service(services, name)
        # each replica is named vool-<service>-<n>; a fixed name or a host port
        # would be held by the first one
        assert "container_name" not in definition, f"{name} has a fixed container name"
        assert not definition.get("ports"), f"{name} publishes {definition['ports']}"
        assert (definition.get("deploy") or {}).get("replicas", 1) >= 1, name


def compose_section():
    return README.read_text().split("\n## Running with docker compose", 1)[1].split("\n## ", 1)[0]


def test_readme_shows_how_to_scale_services_that_can_be_scaled(services):
    section = compose_section()
    commands = [line for line in section.splitlines()
                if line.startswith("docker compose") and "--scale" in line]
    assert commands, "README's compose section shows no `--scale` command"
    for command in commands:
        argv = shlex.split(command)
        assert argv[argv.index("-f") + 1] == "deploy/docker-compose.yml"
        scaled = dict(arg.split("=") for arg in argv[argv.index("--scale") :] if "=" in arg)
        assert set(scaled) >= {"billing", "notifications"}, scaled
        for name, replicas in scaled.items():
            assert name in BACKEND_SERVICES, f"README scales {name}, which publishes a port"
            assert int(replicas) >= 2


def test_readme_says_why_the_gateway_needs_care_to_scale(services):
    assert published_ports(service(services, "gateway")), "the gateway publishes no port"
    section = compose_section()
    assert "--scale gateway=2" in section and "port is already" in section
    assert "load balancer" in section


# --- RabbitMQ, PostgreSQL and the gateway ---------------------------------------------

def test_rabbitmq_has_the_management_plugin_and_a_healthcheck(services):
    rabbitmq = service(services, "rabbitmq")
    assert "management" in str(rabbitmq.get("image", "")), \
        f"rabbitmq image {rabbitmq.get('image')!r} lacks the management plugin"
    argv = healthcheck_argv(rabbitmq)
    assert argv[:1] == ["rabbitmq-diagnostics"] and "ping" in argv, \
        f"rabbitmq healthcheck runs {argv}"


def test_every_image_is_pinned_to_an_exact_version(services):
    # a moving tag (3-management, 16, latest) gives a different server on the next pull
    exact = {
        "rabbitmq": r"rabbitmq:3\.13\.\d+-management",
        "postgres": r"postgres:16\.\d+(-bookworm)?",
        "mailpit": r"axllent/mailpit:v\d+\.\d+\.\d+",
    }
    for name, pattern in exact.items():
        image = str(service(services, name).get("image", ""))
        assert re.fullmatch(pattern, image), f"{name} image {image!r} is not an exact version"


def test_postgres_has_a_healthcheck(services):
    postgres = service(services, "postgres")
    assert str(postgres.get("image", "")).startswith("postgres:"), postgres.get("image")
    argv = healthcheck_argv(postgres)
    assert argv[:1] == ["pg_isready"], f"postgres healthcheck runs {argv}"
    env = environment(postgres)
    assert env.get("POSTGRES_PASSWORD") or env.get("POSTGRES_HOST_AUTH_METHOD"), \
        "the postgres image starts only with a password or an auth method"


def test_services_log_into_postgres_as_the_user_it_creates(services):
    env = environment(service(services, "postgres"))
    database_url = urlsplit(environment(service(services, "identity"))["DATABASE_URL"])
    assert database_url.username == env.get("POSTGRES_USER", "postgres")
    if "POSTGRES_PASSWORD" in env:
        assert database_url.password == env["POSTGRES_PASSWORD"], \
            "DATABASE_URL and POSTGRES_PASSWORD default to different passwords"


def test_services_log_into_rabbitmq_as_the_user_it_creates(services):
    env = environment(service(services, "rabbitmq"))
    amqp = urlsplit(environment(service(services, "identity"))["AMQP_URI"])
    assert (amqp.username, amqp.password) == (env.get("RABBITMQ_DEFAULT_USER", "guest"),
                                              env.get("RABBITMQ_DEFAULT_PASS", "guest"))


def published_ports(definition):
    """``{container port: host port}`` from short ("8000:8000") or long syntax."""
    ports = {}
    for entry in definition.get("ports") or []:
        if isinstance(entry, dict):
            ports[int(entry["target"])] = int(entry.get("published", entry["target"]))
            continue
        parts = str(entry).split("/")[0].split(":")
        ports[int(parts[-1])] = int(parts[-2]) if len(parts) > 1 else None
    return ports


def test_gateway_publishes_8000_and_listens_there(services):
    gateway = service(services, "gateway")
    assert published_ports(gateway).get(8000) == 8000, \
        f"gateway must publish port 8000 (ports: {gateway.get('ports')})"
    address = environment(gateway).get("VOOL_GATEWAY_ADDRESS", "")
    assert address == "0.0.0.0:8000", \
        f"inside its container the gateway must listen on 0.0.0.0:8000, not {address!r}"


def test_gateway_starts_after_every_backend_service_is_healthy(services):
    deps = depends_on(service(services, "gateway"))
    for name in BACKEND_SERVICES:
        assert deps.get(name) == "service_healthy", \
            f"gateway must depend on {name} with condition service_healthy " \
            f"(has {deps.get(name)!r})"


def test_the_banklink_keys_are_made_once_and_shared_read_only(services):
    keys = service(services, "dev-keys")
    assert as_argv(keys["command"])[-1] == "dev-keys"
    assert "dev-keys:/app/deploy/config/keys" in keys["volumes"]
    for name in ("identity", "testbank"):
        definition = service(services, name)
        assert "dev-keys:/app/deploy/config/keys:ro" in definition["volumes"], name
        assert depends_on(definition).get("dev-keys") == "service_completed_successfully", name


def test_the_test_bank_runs_on_8100_with_its_own_config(services):
    bank = service(services, "testbank")
    argv = as_argv(bank["command"])
    assert "deploy/config/testbank-nameko.yaml" in argv and argv[-1] == "services.testbank.service"
    assert published_ports(bank).get(8100) == 8100
    assert environment(bank).get("VOOL_TESTBANK_ADDRESS") == "0.0.0.0:8100"
    assert "8100" in " ".join(healthcheck_argv(bank))


def test_identity_reaches_the_test_provider_by_its_service_name_and_browsers_by_the_port(
        services):
    """Browsers reach the test provider at 127.0.0.1:8100 (the published port), which
    inside identity's container is identity itself: it fetches discovery, keys and
    tokens at the test bank's service name (backchannel_url), while the issuer (what
    browsers are sent to, what ID tokens name) stays the public one."""
    identity, bank = service(services, "identity"), service(services, "testbank")
    providers_file = environment(identity)["VOOL_OIDC_FILE"]
    assert not Path(providers_file).is_absolute()      # in the image: deploy/config/
    [provider] = yaml.safe_load((ROOT / providers_file).read_text())["providers"]
    issuer, inside = urlsplit(provider["issuer"]), urlsplit(provider["backchannel_url"])
    assert provider["issuer"] == environment(bank)["VOOL_TESTBANK_ISSUER"]
    assert issuer.hostname == "127.0.0.1" and published_ports(bank).get(issuer.port) == issuer.port
    assert inside.hostname == "testbank" and inside.path == issuer.path
    assert environment(bank)["VOOL_TESTBANK_ADDRESS"].endswith(f":{inside.port}")
    # the client secret: the dev-keys volume both mount, as the test bank's client has it
    secret = Path(provider["client_secret_file"])
    assert f"dev-keys:/app/{secret.parent}:ro" in identity["volumes"]
    testbank_config = yaml.safe_load((DEPLOY / "config" / "testbank.yaml").read_text())
    assert testbank_config["oidc"]["clients"][provider["client_id"]][
        "client_secret_file"] == str(secret)
    # the same provider as `make run`'s, but for the back channel
    development = {p["id"]: p for p in yaml.safe_load(
        (DEPLOY / "config" / "oidc.yaml").read_text())["providers"]}
    assert {k: v for k, v in provider.items() if k != "backchannel_url"} == development[
        provider["id"]]


def test_healthcheck_module_knows_every_service_in_the_compose_file(services):
    healthcheck = importlib.import_module("services.healthcheck")
    assert callable(healthcheck.main)
    for name in VOOL_SERVICES:
        checked = healthcheck_argv(service(services, name))[3]
        assert healthcheck.parse_args([checked]).service == name


def test_notifications_mails_the_catcher_which_shows_them_on_this_machine_only(services):
    notifications = service(services, "notifications")
    env = environment(notifications)
    assert env.get("SMTP_HOST") == "mailpit", "notifications must send to the mailpit service"
    assert env.get("SMTP_PORT") == "1025", "Mailpit listens for SMTP on 1025"
    assert "@" in parseaddr(env.get("VOOL_MAIL_FROM", ""))[1], "no sender address"
    deps = depends_on(notifications)
    assert deps.get("mailpit") == "service_healthy"
    assert all(deps.get(name) == "service_healthy" for name in ("rabbitmq", "postgres"))
    mailpit = service(services, "mailpit")
    assert str(mailpit.get("image", "")).startswith("axllent/mailpit:")
    assert healthcheck_argv(mailpit) == ["/mailpit", "readyz"]
    assert published_ports(mailpit).get(8025) == 8025
    assert all(str(port).startswith("127.0.0.1:") for port in mailpit["ports"]), \
        "the mail catcher's UI shows customers' mail: publish it on this machine only"
    assert 1025 not in published_ports(mailpit)


# --- the Dockerfile -------------------------------------------------------------------

def dockerfile_instructions():
    """``[(INSTRUCTION, arguments)]``, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def final_stage():
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def test_dockerfile_is_multi_stage_on_an_exact_python_3_11_slim():
    froms = [args for keyword, args in dockerfile_instructions() if keyword == "FROM"]
    assert len(froms) >= 2, f"the Dockerfile must be multi-stage; FROM lines: {froms}"
    for args in froms:
        # an exact patch release and Debian release, so a rebuild gets the same base
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", args.split()[0]), \
            f"stage base {args!r}"
    assert any("--from=" in args for keyword, args in final_stage() if keyword == "COPY"), \
        "the runtime stage copies nothing from the builder"


def test_dockerfile_runs_as_a_non_root_user():
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    assert users, "the runtime stage sets no USER, so it runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"the runtime stage runs as {user!r}"


def test_dockerfile_copies_the_code_and_the_nameko_config():
    copied = " ".join(args for keyword, args in final_stage() if keyword in ("COPY", "ADD"))
    for path in ("services", "deploy/config"):
        assert re.search(rf"(^|\s){re.escape(path)}/?(\s|$)", copied), \
            f"the runtime stage does not copy {path}/"


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    patterns = {line.strip().rstrip("/") for line in
                (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    for pattern in (".venv", "var", ".git"):
        assert pattern in patterns, f".dockerignore does not exclude {pattern}"
    assert patterns & {"**/__pycache__", "__pycache__"}, ".dockerignore keeps __pycache__"


# --- every variable documented --------------------------------------------------------

def documented_variables():
    """Names in the first column of README's Configuration table, as patterns
    (`VOOL_<SERVICE>_DATABASE_URL` stands for any service)."""
    section = README.read_text().split("\n## Configuration", 1)
    assert len(section) == 2, "README.md has no '## Configuration' section"
    rows = [line for line in section[1].split("\n## ", 1)[0].splitlines()
            if line.startswith("|")]
    assert len(rows) > 2, "README.md's Configuration section has no table"
    patterns = []
    for row in rows[2:]:  # past the header and the |---| line
        for name in re.findall(r"`([^`]+)`", row.split("|")[1]):
            patterns.append(re.compile(re.sub(r"<[^>]+>", "[A-Z]+", re.escape(name)
                                              .replace(r"\<", "<").replace(r"\>", ">"))))
    return patterns


def test_readme_configuration_table_parses():
    names = [p.pattern for p in documented_variables()]
    assert "AMQP_URI" in names and "DATABASE_URL" in names, names
    assert any(p.fullmatch("VOOL_BILLING_DATABASE_URL") for p in documented_variables())


def test_every_variable_set_for_vool_services_is_documented(services):
    patterns = documented_variables()
    variables = {key for name in VOOL_SERVICES if name in services
                 for key in environment(services[name])}
    assert {"AMQP_URI", "DATABASE_URL"} <= variables
    undocumented = sorted(v for v in variables if not any(p.fullmatch(v) for p in patterns))
    assert not undocumented, \
        f"set in {COMPOSE_FILE.name} but not in README.md's Configuration table: " \
        f"{undocumented}"


def strings(node):
    """Every key and scalar in a parsed YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif node is not None:
        yield str(node)


def test_every_variable_the_compose_file_reads_is_documented(compose):
    patterns = documented_variables()
    variables = {m.group("name") for text in strings(compose)
                 for m in INTERPOLATION.finditer(text)}
    assert variables, "the compose file reads no ${...} variables: no way to override secrets"
    undocumented = sorted(v for v in variables if not any(p.fullmatch(v) for p in patterns))
    assert not undocumented, \
        f"{COMPOSE_FILE.name} reads ${{...}} variables that README.md's Configuration " \
        f"table does not document: {undocumented}"
