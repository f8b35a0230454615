"""deploy/k8s/, rendered and checked offline: no cluster runs here.

Each overlay is rendered with `kubectl kustomize` (Kustomize built into kubectl); every
object Kubernetes itself defines is validated against the Kubernetes JSON schemas
kubernetes-validate bundles (strict: an unknown field fails), the operators' custom
resources against the schemas in tests/data/k8s-crds/, and then the rules of this
project that no schema knows: probes on the ports the containers open, requests and
limits, a PodDisruptionBudget per Deployment, pinned images, no secret in plain text,
every service present, replicas in production.
"""
import functools
import re
import shlex
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS_DIR = K8S / "overlays"
EXAMPLE_SECRETS = K8S / "examples" / "secrets.example.yaml"
CRD_SCHEMAS_DIR = ROOT / "tests" / "data" / "k8s-crds"
COMPOSE_FILE = ROOT / "deploy" / "docker-compose.yml"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"

OVERLAYS = ("dev", "production", "production-managed-postgres")
PRODUCTION = ("production", "production-managed-postgres")
# the oldest Kubernetes still in upstream support when this was written
KUBERNETES_VERSION = "1.31"

BACKENDS = ("identity", "contracts", "metering", "billing", "notifications")
SERVICES = BACKENDS + ("gateway",)
OPS_PORT = 9100        # the backends' ops listener: /health/live, /health/ready, /metrics
GATEWAY_PORT = 8000

CUSTOM_RESOURCES = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): "rabbitmqcluster.schema.yaml",
    ("postgresql.cnpg.io/v1", "Cluster"): "cnpg-cluster.schema.yaml",
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): "cnpg-scheduledbackup.schema.yaml",
}
PLACEHOLDER = "REPLACE-ME"
# settings that sit in a Secret beside the credentials but are no secret themselves
NOT_SECRET = {"SMTP_PORT", "SMTP_STARTTLS"}


def kubectl():
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail("kubectl is not installed, and deploy/k8s/ is rendered with `kubectl "
                    "kustomize`: install kubectl 1.27 or later (Kustomize v5 built in; "
                    "https://kubernetes.io/docs/tasks/tools/), no cluster is needed",
                    pytrace=False)
    return path


@functools.cache
def render(overlay):
    """The objects `kubectl kustomize deploy/k8s/overlays/<overlay>` writes."""
    result = subprocess.run([kubectl(), "kustomize", str(OVERLAYS_DIR / overlay)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    assert objects, f"{overlay} renders nothing"
    return objects


def example_secrets():
    return [o for o in yaml.safe_load_all(EXAMPLE_SECRETS.read_text()) if o]


def of_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def named(objects, kind, name):
    found = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def name_of(obj):
    return f"{obj['kind']}/{obj['metadata']['name']}"


def containers(deployment):
    return deployment["spec"]["template"]["spec"]["containers"]


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def config_maps_of(objects, deployment):
    names = [source["configMapRef"]["name"] for c in containers(deployment)
             for source in c.get("envFrom", []) if "configMapRef" in source]
    return [named(objects, "ConfigMap", n) for n in names]


def setting(objects, deployment, variable):
    """A variable's value in a Deployment's container: its env, else its ConfigMaps."""
    env = env_of(containers(deployment)[0])
    if variable in env:
        return env[variable].get("value")
    for config_map in config_maps_of(objects, deployment):
        if variable in config_map.get("data", {}):
            return config_map["data"][variable]
    return None


@pytest.fixture(params=OVERLAYS)
def overlay(request):
    return request.param


@pytest.fixture
def objects(overlay):
    return render(overlay)


def test_every_overlay_is_tested():
    assert sorted(p.name for p in OVERLAYS_DIR.iterdir() if p.is_dir()) == sorted(OVERLAYS)


# --- schemas ------------------------------------------------------------------------

def test_kubernetes_objects_match_the_kubernetes_schemas(objects):
    errors = []
    for obj in objects + example_secrets():
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_RESOURCES:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            errors.append(f"{name_of(obj)}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            errors.append(f"{name_of(obj)}: {error.message} (nor a custom resource we know)")
    assert not errors, "\n".join(errors)


def test_the_kubernetes_schemas_catch_a_misspelt_field():
    deployment = named(render("production"), "Deployment", "billing")
    (container,) = containers(deployment)
    misspelt = {**container, "readinesProbe": None, "readynessProbe": container["readinessProbe"]}
    spec = {**deployment["spec"]["template"]["spec"], "containers": [misspelt]}
    broken = {**deployment, "spec": {**deployment["spec"],
                                     "template": {**deployment["spec"]["template"], "spec": spec}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@functools.cache
def crd_registry():
    resources = []
    for path in CRD_SCHEMAS_DIR.glob("*.schema.yaml"):
        schema = yaml.safe_load(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def crd_validator(filename):
    schema = yaml.safe_load((CRD_SCHEMAS_DIR / filename).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=crd_registry(),
                                           format_checker=jsonschema.FormatChecker())


def test_custom_resources_match_the_operators_schemas(objects):
    errors, seen = [], 0
    for obj in objects:
        filename = CUSTOM_RESOURCES.get((obj["apiVersion"], obj["kind"]))
        if filename is None:
            continue
        seen += 1
        for error in crd_validator(filename).iter_errors(obj):
            path = ".".join(str(p) for p in error.path)
            errors.append(f"{name_of(obj)}: {path}: {error.message}")
    assert not errors, "\n".join(errors)
    assert seen, "no custom resource rendered: RabbitmqCluster at least is expected"


def test_the_custom_resource_schemas_catch_a_misspelt_field():
    cluster = next(o for o in render("production") if o["kind"] == "RabbitmqCluster")
    misspelt = {**cluster, "spec": {**cluster["spec"], "replica": 3}}
    assert list(crd_validator("rabbitmqcluster.schema.yaml").iter_errors(misspelt))
    database = next(o for o in render("production") if o["kind"] == "Cluster")
    wrong = {**database, "spec": {**database["spec"], "instances": "3"}}
    assert list(crd_validator("cnpg-cluster.schema.yaml").iter_errors(wrong))


# --- the system ---------------------------------------------------------------------

def compose_command(service):
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    command = compose["services"][service]["command"]
    return command if isinstance(command, list) else shlex.split(command)


def test_every_service_runs_as_compose_runs_it(objects):
    deployments = {d["metadata"]["name"]: d for d in of_kind(objects, "Deployment")}
    assert sorted(deployments) == sorted(SERVICES)
    for service, deployment in deployments.items():
        (container,) = containers(deployment)
        assert container["command"] == compose_command(service), service
        assert container["command"][-1] == f"services.{service}.service"
        assert "deploy/config/nameko.yaml" in container["command"]


def test_the_gateway_is_reachable_on_8000(objects):
    gateway = named(objects, "Deployment", "gateway")
    (container,) = containers(gateway)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": GATEWAY_PORT}
    assert env_of(container)["VOOL_GATEWAY_ADDRESS"]["value"] == f"0.0.0.0:{GATEWAY_PORT}"
    service = named(objects, "Service", "gateway")
    pod_labels = gateway["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] in (["http"], [GATEWAY_PORT])
    for ingress in of_kind(objects, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["name"] == "gateway"


def port_number(container, port):
    """A probe's port (a number or a name) as the number the container opens, if it does."""
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    number = ports.get(port, port)
    return number if number in {p["containerPort"] for p in container.get("ports", [])} else None


def test_every_deployment_has_liveness_and_readiness_probes_on_its_ports(objects):
    for deployment in of_kind(objects, "Deployment"):
        service = deployment["metadata"]["name"]
        (container,) = containers(deployment)
        expected = GATEWAY_PORT if service == "gateway" else OPS_PORT
        for probe, path in (("livenessProbe", "/health/live"),
                            ("readinessProbe", "/health/ready"),
                            ("startupProbe", "/health/live")):
            assert probe in container, f"{service} has no {probe}"
            check = container[probe]["httpGet"]
            assert check["path"] == path, f"{service} {probe}"
            assert port_number(container, check["port"]) == expected, \
                f"{service} {probe} is on port {check['port']!r}, not the {expected} it opens"


def test_backends_listen_for_ops_where_the_probes_and_prometheus_look(objects):
    for deployment in of_kind(objects, "Deployment"):
        service = deployment["metadata"]["name"]
        (container,) = containers(deployment)
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", service
        assert annotations.get("prometheus.io/path") == "/metrics", service
        assert port_number(container, int(annotations["prometheus.io/port"])) is not None, service
        if service == "gateway":
            assert annotations["prometheus.io/port"] == str(GATEWAY_PORT)
            continue
        assert annotations["prometheus.io/port"] == str(OPS_PORT), service
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"ops": OPS_PORT}
        assert env_of(container)["VOOL_OPS_ADDRESS"]["value"] == f"0.0.0.0:{OPS_PORT}", service


QUANTITY = re.compile(r"^(?P<number>\d+(\.\d+)?)(?P<suffix>m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
SUFFIXES = {None: 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(value):
    match = QUANTITY.match(str(value))
    assert match, f"not a quantity this test reads: {value!r}"
    return Decimal(match.group("number")) * SUFFIXES[match.group("suffix")]


def check_resources(what, resources):
    for kind in ("requests", "limits"):
        assert set(resources.get(kind, {})) >= {"cpu", "memory"}, f"{what}: {kind} of cpu and memory"
    for resource in ("cpu", "memory"):
        assert quantity(resources["requests"][resource]) <= quantity(resources["limits"][resource]), \
            f"{what}: {resource} request above its limit"


def test_every_container_and_engine_has_requests_and_limits(objects):
    for deployment in of_kind(objects, "Deployment"):
        for container in containers(deployment):
            check_resources(deployment["metadata"]["name"], container.get("resources", {}))
    for kind in ("RabbitmqCluster", "Cluster"):
        for engine in of_kind(objects, kind):
            check_resources(name_of(engine), engine["spec"].get("resources", {}))


def test_every_deployment_has_its_own_disruption_budget(objects):
    budgets = of_kind(objects, "PodDisruptionBudget")
    deployments = of_kind(objects, "Deployment")
    for deployment in deployments:
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        matching = [b for b in budgets
                    if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(matching) == 1, f"{deployment['metadata']['name']}: {len(matching)} PDBs"
        (budget,) = matching
        # a budget that forbids every eviction would block node drains for good
        replicas = deployment["spec"].get("replicas", 1)
        if "minAvailable" in budget["spec"]:
            assert budget["spec"]["minAvailable"] < replicas
        else:
            assert budget["spec"]["maxUnavailable"] >= 1
    assert len(budgets) == len(deployments)


def images(objects):
    for deployment in of_kind(objects, "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        for container in spec["containers"] + spec.get("initContainers", []):
            yield deployment["metadata"]["name"], container["image"]
    for cluster in of_kind(objects, "RabbitmqCluster"):
        yield name_of(cluster), cluster["spec"]["image"]
    for cluster in of_kind(objects, "Cluster"):
        yield name_of(cluster), cluster["spec"]["imageName"]


def test_every_image_is_pinned(objects):
    for what, image in images(objects):
        if "@sha256:" in image:
            continue
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag, f"{what}: {image} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{what}: {image} is not pinned"


def test_every_pod_runs_unprivileged_on_a_read_only_root(objects):
    for deployment in of_kind(objects, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            # what is written at run time goes to volumes, not the read-only image
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert {"/tmp", "/app/var"} <= mounts


def test_logs_are_json_lines(objects):
    for deployment in of_kind(objects, "Deployment"):
        assert setting(objects, deployment, "VOOL_LOG_FORMAT") == "json"


def test_production_runs_replicas_and_quorum_queues(overlay, objects):
    deployments = of_kind(objects, "Deployment")
    queue_types = {setting(objects, d, "VOOL_QUEUE_TYPE") for d in deployments}
    (rabbitmq,) = of_kind(objects, "RabbitmqCluster")
    if overlay not in PRODUCTION:
        assert queue_types == {"classic"}   # one broker node: nothing to replicate to
        return
    for deployment in deployments:
        assert deployment["spec"]["replicas"] >= 2, deployment["metadata"]["name"]
    assert queue_types == {"quorum"}
    assert rabbitmq["spec"]["replicas"] >= 3 and rabbitmq["spec"]["replicas"] % 2 == 1
    for database in of_kind(objects, "Cluster"):
        assert database["spec"]["instances"] >= 3
        assert database["spec"]["backup"]["barmanObjectStore"]["destinationPath"]
        assert of_kind(objects, "ScheduledBackup"), "no scheduled backup of the database"


# --- credentials ----------------------------------------------------------------------

def secret_names_referenced(objects):
    """{secret name: optional?} of every Secret the Deployments read."""
    names = {}
    for deployment in of_kind(objects, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    names[ref["name"]] = names.get(ref["name"], True) and ref.get("optional", False)
            for source in container.get("envFrom", []):
                ref = source.get("secretRef")
                if ref:
                    names[ref["name"]] = names.get(ref["name"], True) and ref.get("optional", False)
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                name = volume["secret"]["secretName"]
                names[name] = names.get(name, True) and volume["secret"].get("optional", False)
    return names


def test_every_secret_read_is_the_operators_or_an_example_one(objects):
    generated = {f"{c['metadata']['name']}-default-user" for c in of_kind(objects, "RabbitmqCluster")}
    generated |= {f"{c['metadata']['name']}-app" for c in of_kind(objects, "Cluster")}
    examples = {s["metadata"]["name"] for s in example_secrets()}
    for name, optional in secret_names_referenced(objects).items():
        assert name in generated | examples, f"Secret {name} is neither generated nor in {EXAMPLE_SECRETS.name}"
        if name in examples and not optional:
            # one an operator has to make: only the managed database's URL is required
            assert name == "vool-database" and not of_kind(objects, "Cluster"), name


def test_every_variable_reference_names_a_variable_defined_before_it(objects):
    # Kubernetes expands $(VAR) from the entries above it; anything else stays literal
    for deployment in of_kind(objects, "Deployment"):
        for container in containers(deployment):
            defined = []
            for env in container.get("env", []):
                for reference in re.findall(r"\$\((\w+)\)", env.get("value", "")):
                    assert reference in defined, \
                        f"{deployment['metadata']['name']}: {env['name']} uses $({reference}) before it is defined"
                defined.append(env["name"])


def test_the_broker_and_database_urls_come_from_the_operators_secrets(overlay, objects):
    for deployment in of_kind(objects, "Deployment"):
        (container,) = containers(deployment)
        env = env_of(container)
        amqp = env["AMQP_URI"]["value"]
        assert amqp.startswith("amqp://$(RABBITMQ_USERNAME):$(RABBITMQ_PASSWORD)@$(RABBITMQ_HOST):")
        for reference in re.findall(r"\$\((\w+)\)", amqp + env["RABBIT_MANAGEMENT_URL"]["value"]):
            assert env[reference]["valueFrom"]["secretKeyRef"]["name"] == "vool-rabbitmq-default-user"
        if deployment["metadata"]["name"] == "gateway":
            assert "DATABASE_URL" not in env   # the gateway keeps nothing
            continue
        database = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        if overlay == "production-managed-postgres":
            assert database == {"name": "vool-database", "key": "DATABASE_URL"}
        else:
            assert database == {"name": "vool-db-app", "key": "uri"}


CREDENTIALS_IN_URL = re.compile(r"://(?P<user>[^:/@\s]+):(?P<password>[^@/\s]+)@")


def test_no_secret_in_plain_text(objects):
    for obj in objects:
        assert obj["kind"] != "Secret", f"{name_of(obj)}: Secrets are made by hand, never rendered"
        if obj["kind"] == "ConfigMap":
            for key, value in obj.get("data", {}).items():
                assert "PRIVATE KEY" not in value, f"{name_of(obj)} {key}"
                assert not re.search(r"(?i)(password|secret|token)\s*[:=]", value), f"{name_of(obj)} {key}"
    for deployment in of_kind(objects, "Deployment"):
        for env in containers(deployment)[0].get("env", []):
            match = CREDENTIALS_IN_URL.search(env.get("value", ""))
            assert not match or match.group("password").startswith("$("), \
                f"{deployment['metadata']['name']}: {env['name']} has a password in it"
            assert not re.search(r"(?i)password|secret|token", env["name"]) or "valueFrom" in env, \
                f"{deployment['metadata']['name']}: {env['name']} is set in plain text"


def test_the_example_secrets_hold_placeholders_only():
    for secret in example_secrets():
        assert secret["kind"] == "Secret" and "data" not in secret
        for key, value in secret["stringData"].items():
            assert key in NOT_SECRET or PLACEHOLDER in value, f"{secret['metadata']['name']} {key}"


def test_identity_reads_the_banks_and_their_keys_where_they_are_mounted(objects):
    identity = named(objects, "Deployment", "identity")
    (container,) = containers(identity)
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in identity["spec"]["template"]["spec"]["volumes"]}
    banks_file = Path(env_of(container)["VOOL_BANKS_FILE"]["value"])
    assert str(banks_file.parent) == mounts["banks"]
    banks = named(objects, "ConfigMap", volumes["banks"]["configMap"]["name"])
    entries = yaml.safe_load(banks["data"][banks_file.name])["banks"]
    assert volumes["bank-keys"]["secret"]["secretName"] == "vool-bank-keys"
    example_keys = set(next(s for s in example_secrets()
                            if s["metadata"]["name"] == "vool-bank-keys")["stringData"])
    for bank in entries:
        for key in ("bank_public_key", "our_private_key"):
            path = Path(bank[key])
            assert str(path.parent) == mounts["bank-keys"], f"{bank['id']} {key}"
            assert path.name in example_keys, f"{bank['id']} {key}: not in the example Secret"


def test_identity_reads_the_oidc_providers_and_their_secrets_where_they_are_mounted(objects):
    identity = named(objects, "Deployment", "identity")
    (container,) = containers(identity)
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in identity["spec"]["template"]["spec"]["volumes"]}
    providers_file = Path(env_of(container)["VOOL_OIDC_FILE"]["value"])
    assert str(providers_file.parent) == mounts["oidc"]
    config_map = named(objects, "ConfigMap", volumes["oidc"]["configMap"]["name"])
    entries = yaml.safe_load(config_map["data"][providers_file.name])["providers"]
    assert entries, "no provider, not even the example"
    secrets = volumes["oidc-secrets"]["secret"]
    assert secrets["secretName"] == "vool-oidc-secrets" and secrets["optional"] is True
    example_files = set(next(s for s in example_secrets()
                             if s["metadata"]["name"] == "vool-oidc-secrets")["stringData"])
    for provider in entries:
        named_files = [provider[k] for k in ("client_secret_file", "private_key_file")
                       if k in provider]
        assert named_files, f"{provider['id']}: its secret is in the Secret, as a file"
        for path in map(Path, named_files):
            assert str(path.parent) == mounts["oidc-secrets"], provider["id"]
            assert path.name in example_files, f"{provider['id']}: not in the example Secret"
        assert provider["issuer"].startswith("https://"), provider["id"]


def test_the_operations_guide_covers_every_overlay():
    text = OPERATIONS_DOC.read_text()
    for overlay in OVERLAYS:
        assert f"overlays/{overlay}" in text, overlay
    assert "docs/operations.md" in (ROOT / "README.md").read_text()
