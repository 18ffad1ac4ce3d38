"""Offline checks of the Helm charts, skaffold.yaml and the Dockerfiles.

Every service chart is rendered with exactly what skaffold passes for each profile (its values
files, then setValueTemplates with the image it would have built), linted, validated against
the Kubernetes schemas (strict) and checked against the deployment contract: hardening, probes,
one uvicorn worker, secrets by reference only, the migration hook, and the who-talks-to-whom
table as NetworkPolicies. No cluster, no helm binary, no Docker engine.

checkov runs from its own virtualenv (.tools/checkov, see docs/deployment.md); without it that
one test is skipped.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "charts"
LIBRARY = "meterhub-common"

# chart name -> (service directory, Python package, settings prefix)
SERVICES: dict[str, tuple[str, str, str]] = {
    "ingest": ("ingest", "meterhub_ingest", "MH_INGEST_"),
    "usage-api": ("usage-api", "meterhub_usage_api", "MH_USAGE_"),
    "han": ("han", "meterhub_han", "MH_HAN_"),
    "ftps-publisher": ("ftps-publisher", "meterhub_ftps_publisher", "MH_FTPS_"),
    "notifier": ("notifier", "meterhub_notifier", "MH_NOTIFIER_"),
}
PROFILES = ("dev", "prod")
# The oldest Kubernetes the charts support (docs/deployment.md) and the newest schema shipped
# with kubernetes-validate.
KUBE_VERSIONS = ("1.32.0", latest_version())
GNUPG_SERVICES = {"ingest", "usage-api", "ftps-publisher"}
FAKE_DIGEST = "sha256:" + "5e" * 32
COMMON_SETTINGS = {
    "MH_ENVIRONMENT",
    "MH_TOKEN_PUBLIC_KEY_FILE",
    "OTEL_SEMCONV_STABILITY_OPT_IN",
    "OTEL_SERVICE_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "FORWARDED_ALLOW_IPS",
}


def uvicorn_command(package: str) -> list[str]:
    return [
        "uvicorn", "--factory", f"{package}.main:create_app",
        "--host", "0.0.0.0", "--port", "8000", "--workers", "1", "--proxy-headers",  # noqa: S104
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# skaffold, emulated: values files merged in order, then --set of the expanded templates.


@functools.cache
def skaffold_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((REPO / "skaffold.yaml").read_text())
    return config


def profile_releases(profile: str) -> list[dict[str, Any]]:
    for candidate in skaffold_config()["profiles"]:
        if candidate["name"] == profile:
            releases: list[dict[str, Any]] = candidate["deploy"]["helm"]["releases"]
            return releases
    raise AssertionError(f"skaffold.yaml has no profile {profile}")


def template_key(image: str) -> str:
    """skaffold's name for an artifact in templates: '/', '-' and '.' become '_'."""
    return re.sub(r"[/.-]", "_", image)


def built_image(image: str, profile: str) -> dict[str, str]:
    """What skaffold reports for an artifact it built for this profile."""
    if profile == "prod":
        # Pushed to the default repo; a registry digest exists.
        return {"repo": f"registry.example.org/{image}", "tag": "v0.1.0-4-g1a2b3c4",
                "digest": FAKE_DIGEST}  # fmt: skip
    # Built locally and loaded into the cluster: tagged with its image id, no registry digest.
    return {"repo": image, "tag": "8c1f0e2d5b7a", "digest": ""}


@functools.cache
def template_env(profile: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for artifact in skaffold_config()["build"]["artifacts"]:
        key = template_key(artifact["image"])
        image = built_image(artifact["image"], profile)
        env[f"IMAGE_REPO_{key}"] = image["repo"]
        env[f"IMAGE_TAG_{key}"] = image["tag"]
        env[f"IMAGE_DIGEST_{key}"] = image["digest"]
    return env


def expand(template: str, env: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        assert match.group(1) in env, f"skaffold defines no template value {match.group(1)}"
        return env[match.group(1)]

    return re.sub(r"\{\{\s*\.([A-Za-z0-9_]+)\s*\}\}", one, template)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of values files: maps merge, everything else is replaced."""
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = value
    return base


def release_values(release: dict[str, Any], profile: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for path in release.get("valuesFiles", []):
        deep_merge(values, yaml.safe_load((REPO / path).read_text()) or {})
    for key, template in release.get("setValueTemplates", {}).items():
        expanded = expand(template, template_env(profile))
        deep_merge(values, helm.parse_set_string(f"{key}={expanded}"))
    for key, value in release.get("setValues", {}).items():
        deep_merge(values, helm.parse_set_string(f"{key}={value}"))
    return values


def chart_release(chart: str, profile: str) -> dict[str, Any]:
    for release in profile_releases(profile):
        if release.get("chartPath") == f"charts/{chart}":
            return release
    raise AssertionError(f"profile {profile} deploys no release of charts/{chart}")


# ---------------------------------------------------------------------------------------------
# Rendering


@dataclass
class Render:
    chart: str
    profile: str
    values: dict[str, Any]
    docs: list[dict[str, Any]] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [d for d in self.of_kind(kind) if name is None or d["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.chart}/{self.profile}: {len(found)} {kind} {name or ''}"
        return found[0]

    @property
    def deployment(self) -> dict[str, Any]:
        return self.one("Deployment")

    @property
    def settings(self) -> dict[str, str]:
        name = self.deployment["metadata"]["name"]
        data: dict[str, str] = self.one("ConfigMap", name)["data"]
        return data


@pytest.fixture(scope="session")
def chart_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of charts/ with the library packaged into each chart, as `helm dep build` does.

    The copy keeps the working tree clean: the packaged library is a build product.
    """
    root = tmp_path_factory.mktemp("helm") / "charts"
    shutil.copytree(CHARTS, root, ignore=shutil.ignore_patterns("charts", "*.tgz"))
    for chart in SERVICES:
        helm.dependency_build(root / chart)
    return root


@pytest.fixture(scope="session")
def render(chart_dir: Path) -> Iterator[Any]:
    """render(chart, profile, extra_values=None) -> Render, cached per argument set."""
    cache: dict[str, Render] = {}

    def _render(chart: str, profile: str, extra: dict[str, Any] | None = None) -> Render:
        key = json.dumps([chart, profile, extra], sort_keys=True)
        if key not in cache:
            release = chart_release(chart, profile)
            values = deep_merge(release_values(release, profile), extra or {})
            with helm.Chart.load(chart_dir / chart) as loaded:
                manifests = loaded.render(
                    values, name=release["name"], namespace=release["namespace"],
                    is_install=True,
                )  # fmt: skip
                # What the release really uses: the chart's defaults under the overrides.
                effective = loaded.merge_values(values)
            docs = [doc for text in manifests.values() for doc in yaml.safe_load_all(text) if doc]
            cache[key] = Render(chart, profile, effective, docs)
        return cache[key]

    yield _render


each_chart_and_profile = pytest.mark.parametrize(
    ("chart", "profile"), [(c, p) for c in SERVICES for p in PROFILES]
)


def pod_specs(r: Render) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, pod spec) of every Deployment and Job."""
    for doc in r.docs:
        if doc["kind"] in ("Deployment", "Job"):
            yield doc, doc["spec"]["template"]["spec"]


# ---------------------------------------------------------------------------------------------
# Lint and schema validation


@each_chart_and_profile
def test_lint_reports_no_errors_or_warnings(chart_dir: Path, chart: str, profile: str) -> None:
    values = release_values(chart_release(chart, profile), profile)
    report = helm.lint(chart_dir / chart, values, strict=True, kube_version=f"v{KUBE_VERSIONS[0]}")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


# PrometheusRule is a CRD (Prometheus Operator), absent from kubernetes-validate: its shape is
# checked here against the operator's API, the parts these charts use.
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_RULE = {
    "type": "object",
    "required": ["expr"],
    "additionalProperties": False,
    "oneOf": [{"required": ["record"]}, {"required": ["alert"]}],
    "properties": {
        "record": {"type": "string", "pattern": "^[a-zA-Z_:][a-zA-Z0-9_:]*$"},
        "alert": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9]*$"},
        "expr": {"type": "string", "minLength": 1},
        "for": {"type": "string", "pattern": "^[0-9]+[smhdwy]$"},
        "labels": _STRINGS,
        "annotations": _STRINGS,
    },
}
_GROUP = {
    "type": "object",
    "required": ["name", "rules"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "rules": {"type": "array", "minItems": 1, "items": _RULE},
    },
}
PROMETHEUS_RULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": {
            "type": "object",
            "required": ["name", "namespace"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "labels": _STRINGS,
            },
        },
        "spec": {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {"groups": {"type": "array", "minItems": 1, "items": _GROUP}},
        },
    },
}


def validate_manifest(doc: dict[str, Any]) -> None:
    if doc["apiVersion"].startswith("monitoring.coreos.com/"):
        # A CRD: kubernetes-validate ships only the built-in kinds.
        jsonschema.validate(doc, PROMETHEUS_RULE_SCHEMA)
        return
    for version in KUBE_VERSIONS:
        kubernetes_validate.validate(doc, version, strict=True)


@each_chart_and_profile
def test_every_manifest_is_valid_kubernetes(render: Any, chart: str, profile: str) -> None:
    r = render(chart, profile)
    assert r.docs
    for doc in r.docs:
        try:
            validate_manifest(doc)
        except jsonschema.ValidationError as exc:
            where = f"{doc['kind']}/{doc['metadata']['name']}"
            pytest.fail(f"{where}: {exc.message} at {exc.json_path}")


# ---------------------------------------------------------------------------------------------
# Security


@each_chart_and_profile
def test_pods_are_hardened(render: Any, chart: str, profile: str) -> None:
    r = render(chart, profile)
    workloads = list(pod_specs(r))
    assert workloads
    for workload, spec in workloads:
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, where
        assert pod_sc["runAsUser"] == 10001, where
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        assert "hostNetwork" not in spec and "hostPID" not in spec, where
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True, where
            assert sc["runAsUser"] == 10001, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc.get("privileged", False) is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
            resources = container["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys(), where
            assert "memory" in resources["limits"], where
            # /tmp is the only writable path, an emptyDir with a size cap.
            tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert len(tmp) == 1, where
            assert volumes[tmp[0]["name"]]["emptyDir"]["sizeLimit"], where
            for mount in container["volumeMounts"]:
                if mount["mountPath"] != "/tmp" and "emptyDir" in volumes[mount["name"]]:
                    pytest.fail(f"{where}: unexpected writable emptyDir at {mount['mountPath']}")
    for account in r.of_kind("ServiceAccount"):
        assert account["automountServiceAccountToken"] is False, account["metadata"]["name"]


@each_chart_and_profile
def test_secrets_only_by_reference(render: Any, chart: str, profile: str) -> None:
    r = render(chart, profile)
    assert not r.of_kind("Secret"), "charts must never create Secrets"
    secrets = r.values["secrets"]
    for workload, spec in pod_specs(r):
        for container in spec["containers"]:
            env = {e["name"]: e for e in container.get("env", [])}
            ref = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
            database = secrets["database"]
            if workload["kind"] == "Job" and r.values["migrations"]["database"]["name"]:
                database = r.values["migrations"]["database"]
            assert ref == {"name": database["name"], "key": "database-url"}
            for item in env.values():
                if "value" in item:
                    assert not re.search(r"PASSWORD|SECRET|DATABASE_URL|PRIVATE", item["name"]), (
                        f"{workload['metadata']['name']}: {item['name']} is a plain value"
                    )
    for config_map in r.of_kind("ConfigMap"):
        for key in config_map.get("data", {}):
            assert key != "DATABASE_URL" and "PASSWORD" not in key, key
    # The token keys are projected read-only from Secrets; only usage-api gets the private key.
    volume = next(v for v in r.deployment["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == "token-keys")  # fmt: skip
    sources = {
        item["path"]: s["secret"]["name"]
        for s in volume["projected"]["sources"]
        for item in s["secret"]["items"]
    }
    expected = {"public.pem": secrets["tokenPublicKey"]["name"]}
    if chart == "usage-api":
        expected["private.pem"] = secrets["tokenPrivateKey"]["name"]
    assert sources == expected


def test_render_refuses_values_that_break_the_contract(chart_dir: Path) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("ingest", {"config": {"DATABASE_URL": "postgresql://u:p@db/x"}}),
        ("han", {"config": {"MH_INGEST_WRONG_PREFIX": "1"}}),
        ("usage-api", {"secrets": {"env": [{"env": "PASSWORD", "name": "s", "key": "k"}]}}),
        ("notifier", {"checkovSkips": [{"id": "CKV_K8S_8"}]}),
        ("ftps-publisher", {"config": {"MH_FTPS_PORT": "21"}}),
        ("ftps-publisher", {"ftps": {"passivePorts": {"start": 30019, "end": 30000}}}),
        ("ftps-publisher", {"ftps": {"persistence": {"accessModes": ["ReadWriteOnce"]}}}),
        ("ingest", {"image": {"digest": "latest"}}),
        ("ingest", {"app": {"environment": "staging"}}),
    ]
    for chart, values in cases:
        with helm.Chart.load(chart_dir / chart) as loaded, pytest.raises(helm.HelmError):
            loaded.render(values, name=chart, namespace="meterhub")


# ---------------------------------------------------------------------------------------------
# The process contract: image, command, probes, settings


@each_chart_and_profile
def test_deployment_runs_the_contracted_process(render: Any, chart: str, profile: str) -> None:
    r = render(chart, profile)
    _, package, _ = SERVICES[chart]
    pod = r.deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["command"] == uvicorn_command(package)
    http = next(p for p in container["ports"] if p["name"] == "http")
    assert http["containerPort"] == 8000
    probes = {k: container[f"{k}Probe"]["httpGet"] for k in ("startup", "liveness", "readiness")}
    assert probes["startup"] == {"path": "/healthz", "port": "http"}
    assert probes["liveness"] == {"path": "/healthz", "port": "http"}
    assert probes["readiness"] == {"path": "/readyz", "port": "http"}
    assert container["envFrom"] == [{"configMapRef": {"name": r.deployment["metadata"]["name"]}}]
    assert "checksum/config" in pod["metadata"]["annotations"]

    image = built_image(f"meterhub/{chart}", profile)
    expected = f"{image['repo']}:{image['tag']}"
    if image["digest"]:
        expected += f"@{image['digest']}"
    for _, spec in pod_specs(r):
        for c in spec["containers"]:
            assert c["image"] == expected


@each_chart_and_profile
def test_settings_follow_the_contract(render: Any, chart: str, profile: str) -> None:
    r = render(chart, profile)
    _, _, prefix = SERVICES[chart]
    settings = r.settings
    assert settings["MH_ENVIRONMENT"] == ("production" if profile == "prod" else "development")
    assert settings["OTEL_SEMCONV_STABILITY_OPT_IN"] == "http"
    assert settings["OTEL_SERVICE_NAME"] == chart
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in settings  # not configured in either profile
    assert settings["MH_TOKEN_PUBLIC_KEY_FILE"] == "/etc/meterhub/token/public.pem"
    if chart == "usage-api":
        assert settings["MH_USAGE_TOKEN_PRIVATE_KEY_FILE"] == "/etc/meterhub/token/private.pem"
    for key in settings:
        assert key in COMMON_SETTINGS or key.startswith(prefix), key
    env = {e["name"]: e for e in r.deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    # Each pod is its own telemetry instance.
    assert "service.instance.id=$(POD_NAME)" in env["OTEL_RESOURCE_ATTRIBUTES"]["value"]


@pytest.mark.parametrize("chart", SERVICES)
def test_otlp_endpoint_only_when_configured(render: Any, chart: str) -> None:
    endpoint = "http://otel-collector.observability:4318"
    r = render(chart, "prod", {"otel": {"exporterEndpoint": endpoint}})
    assert r.settings["OTEL_EXPORTER_OTLP_ENDPOINT"] == endpoint
    collector = Endpoint(ns={"kubernetes.io/metadata.name": "observability"}, labels={})
    assert allows(r.one("NetworkPolicy", chart), "egress", collector, 4318)
    assert not allows(render(chart, "prod").one("NetworkPolicy", chart), "egress", collector, 4318)


# ---------------------------------------------------------------------------------------------
# Migration hook


@each_chart_and_profile
def test_only_ingest_carries_the_migration_hook(render: Any, chart: str, profile: str) -> None:
    r = render(chart, profile)
    jobs = r.of_kind("Job")
    if chart != "ingest":
        assert not jobs
        return
    (job,) = jobs
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert job["spec"]["backoffLimit"] == 0
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["meterhub-migrate", "upgrade", "head"]
    assert container["image"] == r.deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    # Its ServiceAccount and NetworkPolicy exist before it does (hooks with a lower weight).
    job_sa = job["spec"]["template"]["spec"]["serviceAccountName"]
    for kind in ("ServiceAccount", "NetworkPolicy"):
        hook = r.one(kind, job_sa)
        assert hook["metadata"]["annotations"]["helm.sh/hook"] == annotations["helm.sh/hook"]
        assert int(hook["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
            annotations["helm.sh/hook-weight"]
        )
    # The Service and the PDB never select the migration pod.
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    selectors = [r.one("Service", chart)["spec"]["selector"]]
    selectors += [p["spec"]["selector"]["matchLabels"] for p in r.of_kind("PodDisruptionBudget")]
    for selector in selectors:
        assert not matches(selector, pod_labels)


def test_migration_may_connect_as_the_schema_owner(render: Any) -> None:
    owner = {"migrations": {"database": {"name": "meterhub-database-owner"}}}
    r = render("ingest", "prod", owner)

    def database_secret(spec: dict[str, Any]) -> str:
        env = {e["name"]: e for e in spec["containers"][0]["env"]}
        name: str = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"]
        return name

    secrets = {w["kind"]: database_secret(spec) for w, spec in pod_specs(r)}
    assert secrets == {"Job": "meterhub-database-owner", "Deployment": "meterhub-database"}


# ---------------------------------------------------------------------------------------------
# Scaling


@each_chart_and_profile
def test_autoscaling_and_disruption_budget(render: Any, chart: str, profile: str) -> None:
    r = render(chart, profile)
    deployment = r.deployment
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    if profile == "dev":
        assert deployment["spec"]["replicas"] == 1
        assert not r.of_kind("HorizontalPodAutoscaler") and not r.of_kind("PodDisruptionBudget")
        return
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    hpa = r.one("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"],
    }  # fmt: skip
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    pdb = r.one("PodDisruptionBudget")
    assert matches(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    assert pdb["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize(
    ("chart", "toggle", "type_", "metric"),
    [
        ("ingest", "filesPending", "External", "meterhub_ingest_files_pending"),
        ("usage-api", "requestRate", "Pods", "http_server_requests_per_second"),
    ],
)
def test_custom_metric_scaling_is_optional(
    render: Any, chart: str, toggle: str, type_: str, metric: str
) -> None:
    on = {"autoscaling": {"customMetrics": {toggle: {"enabled": True}}}}
    hpa = render(chart, "prod", on).one("HorizontalPodAutoscaler")
    custom = [m for m in hpa["spec"]["metrics"] if m["type"] == type_]
    assert len(custom) == 1
    spec = custom[0][type_.lower()]
    assert spec["metric"]["name"] == metric
    assert spec["target"]["type"] == "AverageValue"
    default = render(chart, "prod").one("HorizontalPodAutoscaler")
    assert [m["type"] for m in default["spec"]["metrics"]] == ["Resource"]


# ---------------------------------------------------------------------------------------------
# NetworkPolicy: who talks to whom


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace labels + pod labels) or an address outside the cluster."""

    ns: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    ip: str | None = None

    def __hash__(self) -> int:
        return hash(json.dumps([self.ns, self.labels, self.ip], sort_keys=True))


MESH_NS = {"kubernetes.io/metadata.name": "meterhub"}
INGRESS_CONTROLLER = Endpoint(
    ns={"kubernetes.io/metadata.name": "ingress", "meterhub.io/ingress-controller": "true"},
    labels={"app.kubernetes.io/name": "some-ingress-controller"},
)
KUBE_DNS = Endpoint(
    ns={"kubernetes.io/metadata.name": "kube-system"}, labels={"k8s-app": "kube-dns"}
)
INTERNET_CLIENT = Endpoint(ip="203.0.113.10")
MANAGED_POSTGRES = Endpoint(ip="10.20.30.40")
TDSP_HEAD_END = Endpoint(ip="198.51.100.7")
MAIL_RELAY = Endpoint(ip="198.51.100.25")
CLOUD_METADATA = Endpoint(ip="169.254.169.254")


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "the charts use matchLabels only"
    return matches(selector.get("matchLabels", {}), labels)


def peer_matches(peer: dict[str, Any], target: Endpoint) -> bool:
    if "ipBlock" in peer:
        if target.ip is None:
            return False
        address = ipaddress.ip_address(target.ip)
        block = peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except", [])
        )
    if target.labels is None or target.ns is None:
        return False
    ns_ok = (
        target.ns == MESH_NS
        if "namespaceSelector" not in peer
        else selects(peer["namespaceSelector"], target.ns)
    )
    return ns_ok and selects(peer.get("podSelector", {}), target.labels)


def port_matches(ports: list[dict[str, Any]] | None, port: int) -> bool:
    if not ports:
        return True
    return any(p["port"] <= port <= p.get("endPort", p["port"]) for p in ports)


def allows(policy: dict[str, Any], direction: str, other: Endpoint, port: int) -> bool:
    """Does this policy let its pods talk to (egress) or hear from (ingress) `other` on `port`?"""
    peers_key = "from" if direction == "ingress" else "to"
    for rule in policy["spec"].get(direction) or []:
        peers = rule.get(peers_key)
        if (not peers or any(peer_matches(p, other) for p in peers)) and port_matches(
            rule.get("ports"), port
        ):
            return True
    return False


# (client, server, port) inside the namespace; nothing else may connect.
INTERNAL_PATHS = {
    ("usage-api", "ftps-publisher", 8000),
    *{("notifier", s, 8000) for s in ("ingest", "usage-api", "han", "ftps-publisher")},
    ("notifier", "ftps-publisher", 2121),
    ("notifier", "ftps-publisher", 30000),
    ("notifier", "ftps-publisher", 30019),
}
EXTERNAL_EGRESS = {
    "tdsp": (TDSP_HEAD_END, 443, {"usage-api", "han"}),
    "smtp": (MAIL_RELAY, 587, {"usage-api", "notifier"}),
    "postgres": (MANAGED_POSTGRES, 5432, set(SERVICES)),
    "dns": (KUBE_DNS, 53, set(SERVICES)),
    "metadata": (CLOUD_METADATA, 80, set()),
}


@pytest.mark.parametrize("profile", PROFILES)
def test_network_policies_follow_who_talks_to_whom(render: Any, profile: str) -> None:
    policies = {c: render(c, profile).one("NetworkPolicy", c) for c in SERVICES}
    pods = {
        c: Endpoint(
            ns=MESH_NS,
            labels=render(c, profile).deployment["spec"]["template"]["metadata"]["labels"],
        )
        for c in SERVICES
    }
    for policy in policies.values():
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]

    for client in SERVICES:
        for server in SERVICES:
            for port in (8000, 2121, 30000, 30019):
                connected = allows(policies[client], "egress", pods[server], port) and allows(
                    policies[server], "ingress", pods[client], port
                )
                expected = (client, server, port) in INTERNAL_PATHS
                assert connected == expected, f"{client} -> {server}:{port}"

    for name, (target, port, allowed) in EXTERNAL_EGRESS.items():
        for chart in SERVICES:
            assert allows(policies[chart], "egress", target, port) == (chart in allowed), (
                f"{chart} egress {name}"
            )

    for chart in SERVICES:
        ingress_on = render(chart, profile).values["ingress"]["enabled"]
        assert ingress_on == (profile == "prod")
        assert allows(policies[chart], "ingress", INGRESS_CONTROLLER, 8000) == ingress_on
        ftps = chart == "ftps-publisher"
        for port in (2121, 30000, 30019):
            assert allows(policies[chart], "ingress", INTERNET_CLIENT, port) == ftps, chart
        assert not allows(policies[chart], "ingress", INTERNET_CLIENT, 8000), chart

    # The migration pod reaches DNS and PostgreSQL and nothing else.
    migration = render("ingest", profile).one("NetworkPolicy", "ingest-migrate")
    assert allows(migration, "egress", MANAGED_POSTGRES, 5432)
    assert allows(migration, "egress", KUBE_DNS, 53)
    assert not allows(migration, "egress", TDSP_HEAD_END, 443)
    assert not migration["spec"]["ingress"]


# ---------------------------------------------------------------------------------------------
# ftps-publisher: one set of numbers for the process, the Service, the pod and the policy


@pytest.mark.parametrize("profile", PROFILES)
def test_ftps_ports_and_storage_are_wired_together(render: Any, profile: str) -> None:
    r = render("ftps-publisher", profile)
    ftps = r.values["ftps"]
    start, end = ftps["passivePorts"]["start"], ftps["passivePorts"]["end"]
    assert (ftps["port"], start, end) == (2121, 30000, 30019)
    passive = set(range(start, end + 1))
    settings = r.settings
    assert settings["MH_FTPS_PORT"] == "2121"
    assert settings["MH_FTPS_PASSIVE_PORTS"] == f"{start}-{end}"
    assert settings["MH_FTPS_ROOT"] == "/var/lib/meterhub/ftps"
    assert "MH_FTPS_MASQUERADE_ADDRESS" not in settings  # set only once the address is known
    masqueraded = render("ftps-publisher", profile, {"ftps": {"masqueradeAddress": "203.0.113.9"}})
    assert masqueraded.settings["MH_FTPS_MASQUERADE_ADDRESS"] == "203.0.113.9"

    lb = r.one("Service", "ftps-publisher-ftps")
    assert lb["spec"]["type"] == "LoadBalancer"
    assert lb["spec"]["sessionAffinity"] == "ClientIP"
    ports = {p["port"]: p["targetPort"] for p in lb["spec"]["ports"]}
    assert ports.pop(2121) == "ftps"
    assert ports == {p: p for p in passive}, "passive ports keep their numbers end to end"

    spec = r.deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    container_ports = {p["containerPort"]: p["name"] for p in container["ports"]}
    assert container_ports[2121] == "ftps"
    assert passive <= container_ports.keys()
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    files = volumes[mounts[settings["MH_FTPS_ROOT"]]["name"]]
    claim = r.one("PersistentVolumeClaim")
    assert files["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    if profile == "prod":
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for key in ("MH_FTPS_TLS_CERT_FILE", "MH_FTPS_TLS_KEY_FILE"):
        directory, filename = settings[key].rsplit("/", 1)
        tls = volumes[mounts[directory]["name"]]["secret"]
        assert mounts[directory]["readOnly"] is True
        assert tls["secretName"] == ftps["tls"]["secretName"]
        assert filename in {i["path"] for i in tls["items"]}

    # The notifier's probes may reach every FTPS port the chart opens.
    notifier = render("notifier", profile).one("NetworkPolicy", "notifier")
    ftps_pod = Endpoint(ns=MESH_NS, labels=r.deployment["spec"]["template"]["metadata"]["labels"])
    for port in {2121, *passive}:
        assert allows(notifier, "egress", ftps_pod, port), port


# ---------------------------------------------------------------------------------------------
# Optional observability components (notifier chart)


def test_observability_components_are_off_by_default(render: Any) -> None:
    for profile in PROFILES:
        r = render("notifier", profile)
        assert not r.of_kind("PrometheusRule")
        assert [c["metadata"]["name"] for c in r.of_kind("ConfigMap")] == ["notifier"]


def test_otel_collector_config_and_burn_rate_alerts(render: Any) -> None:
    on = {
        "observability": {
            "otelCollector": {"enabled": True, "tracesEndpoint": "tempo.observability:4317"},
            "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        }
    }
    r = render("notifier", "prod", on)
    for doc in r.docs:
        validate_manifest(doc)

    relay = yaml.safe_load(r.one("ConfigMap", "notifier-otel-collector")["data"]["relay"])
    assert relay["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    pipelines = relay["service"]["pipelines"]
    assert pipelines["metrics"]["exporters"] == ["prometheus"]
    assert pipelines["traces"]["exporters"] == ["otlp/traces"]

    rule = r.one("PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    rules = [x for g in rule["spec"]["groups"] for x in g["rules"]]
    recorded = {x["record"]: x["expr"] for x in rules if "record" in x}
    for expr in recorded.values():
        assert "http_server_request_duration_seconds_count" in expr
        assert 'http_response_status_code=~"5.."' in expr
        assert 'job=~"meterhub/(ingest|usage-api|han|ftps-publisher|notifier)"' in expr
    # 99% over 30 days: each pair fires at factor x 1% error ratio in both windows.
    pairs = {("1h", "5m"): 0.144, ("6h", "30m"): 0.06, ("1d", "2h"): 0.03, ("3d", "6h"): 0.01}
    alerts = {
        (a["labels"]["long_window"], a["labels"]["short_window"]): a
        for a in rules
        if a.get("alert", "").startswith("MeterhubErrorBudgetBurn")
    }
    assert alerts.keys() == pairs.keys()
    for (long, short), threshold in pairs.items():
        expr = alerts[(long, short)]["expr"]
        for window in (long, short):
            record = f"meterhub:http_server_request_error_ratio:rate{window}"
            assert record in recorded
            match = re.search(re.escape(record) + r" > ([0-9.e-]+)", expr)
            assert match and abs(float(match.group(1)) - threshold) < 1e-9, expr
    assert any(a.get("alert") == "MeterhubIngestBacklog" for a in rules)


# ---------------------------------------------------------------------------------------------
# skaffold.yaml and chart metadata


def service_chart_dirs() -> set[str]:
    return {
        p.parent.name
        for p in CHARTS.glob("*/Chart.yaml")
        if yaml.safe_load(p.read_text()).get("type", "application") == "application"
    }


def test_skaffold_matches_the_charts() -> None:
    config = skaffold_config()
    assert re.fullmatch(r"skaffold/v4beta\d+", config["apiVersion"])
    assert service_chart_dirs() == set(SERVICES)

    artifacts = {a["image"]: a for a in config["build"]["artifacts"]}
    assert artifacts.keys() == {f"meterhub/{c}" for c in SERVICES}
    for chart, (directory, _, _) in SERVICES.items():
        artifact = artifacts[f"meterhub/{chart}"]
        assert artifact["context"] == "."
        assert artifact["docker"]["dockerfile"] == f"services/{directory}/Dockerfile"
        assert (REPO / artifact["docker"]["dockerfile"]).is_file()

    # The production deploy is also the default one.
    assert config["deploy"] == next(p for p in config["profiles"] if p["name"] == "prod")["deploy"]
    for profile, values_file in (("prod", "values.yaml"), ("dev", "values-dev.yaml")):
        releases = profile_releases(profile)
        local = [r for r in releases if "chartPath" in r]
        assert local[0]["name"] == "ingest", "ingest migrates first"
        assert {r["name"] for r in local} == set(SERVICES)
        for release in local:
            chart = release["name"]
            assert release["chartPath"] == f"charts/{chart}"
            assert release["valuesFiles"] == [f"charts/{chart}/{values_file}"]
            assert (REPO / release["valuesFiles"][0]).is_file()
            key = template_key(f"meterhub/{chart}")
            templates = release["setValueTemplates"]
            assert templates["image.repository"] == f"{{{{.IMAGE_REPO_{key}}}}}"
            assert templates["image.tag"] == f"{{{{.IMAGE_TAG_{key}}}}}"
            if profile == "prod":
                assert templates["image.digest"] == f"{{{{.IMAGE_DIGEST_{key}}}}}"
        remote = [r["remoteChart"] for r in releases if "remoteChart" in r]
        assert remote == (["postgresql"] if profile == "dev" else [])


def test_library_chart_lints_clean() -> None:
    report = helm.lint(CHARTS / LIBRARY, strict=True, kube_version=f"v{KUBE_VERSIONS[0]}")
    assert not report["errors"] and all(m["severity"] < 2 for m in report["messages"]), report


def test_charts_depend_on_the_library() -> None:
    library = yaml.safe_load((CHARTS / LIBRARY / "Chart.yaml").read_text())
    assert library["type"] == "library"
    for chart in SERVICES:
        meta = yaml.safe_load((CHARTS / chart / "Chart.yaml").read_text())
        assert meta["name"] == chart
        assert meta["dependencies"] == [{
            "name": LIBRARY, "version": library["version"], "repository": f"file://../{LIBRARY}",
        }]  # fmt: skip
        lock = yaml.safe_load((CHARTS / chart / "Chart.lock").read_text())
        assert lock["dependencies"] == [{
            "name": LIBRARY, "repository": f"file://../{LIBRARY}", "version": library["version"],
        }], f"charts/{chart}/Chart.lock is stale: run helm dependency update"  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Dockerfiles


def dockerfile_stages(path: Path) -> list[list[str]]:
    """Instructions (continuation lines joined, comments dropped) grouped by FROM."""
    text = re.sub(r"\\\n", " ", path.read_text())
    stages: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
        else:
            assert line.upper().startswith("ARG "), f"{path}: {line} before the first FROM"
    return stages


@pytest.mark.parametrize("chart", SERVICES)
def test_dockerfile_is_multi_stage_non_root_single_worker(chart: str) -> None:
    directory, package, _ = SERVICES[chart]
    path = REPO / "services" / directory / "Dockerfile"
    stages = dockerfile_stages(path)
    assert len(stages) >= 2, "multi-stage"
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in path.read_text()
    builder, final = stages[0], stages[-1]
    assert re.match(r"FROM \$\{PYTHON_IMAGE\} AS builder$", builder[0])
    assert final[0] == "FROM ${PYTHON_IMAGE}"
    installs = [line for line in builder if "pip install" in line]
    assert "requirements/runtime.txt" in installs[0]
    assert "--no-deps" in installs[1]
    assert "libs/common" in installs[1] and f"services/{directory}" in installs[1]

    assert any(line.startswith("COPY --from=builder") for line in final)
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the final stage sets a USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) == 10001, "a numeric non-root UID (10001)"
    assert not any(line.upper().startswith("ADD ") for line in final)
    if chart in GNUPG_SERVICES:
        assert any("gnupg" in line for line in final if line.startswith("RUN"))

    cmd = [line for line in final if line.upper().startswith(("CMD ", "ENTRYPOINT "))]
    command = json.loads(cmd[-1].split(" ", 1)[1])  # exec form
    assert command == uvicorn_command(package)
    assert command[command.index("--workers") + 1] == "1"


def test_dockerignore_keeps_the_context_small() -> None:
    entries = {
        line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }  # fmt: skip
    assert {".venv", ".state", ".git", "tests", "bench", "charts"} <= entries
    assert "**/build" in entries and "**/*.egg-info" in entries  # stale setuptools output


# ---------------------------------------------------------------------------------------------
# checkov


def checkov_binary() -> str | None:
    candidates = [os.environ.get("CHECKOV"), str(REPO / ".tools" / "checkov" / "bin" / "checkov")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("checkov")


def checkov_reports(output: str) -> list[dict[str, Any]]:
    """checkov prints one JSON document per scanned directory (each a report or a list)."""
    decoder = json.JSONDecoder()
    reports: list[dict[str, Any]] = []
    position = 0
    while position < len(output):
        if output[position].isspace():
            position += 1
            continue
        document, position = decoder.raw_decode(output, position)
        reports += document if isinstance(document, list) else [document]
    return reports


def test_checkov_finds_nothing_unexcused(render: Any, tmp_path: Path) -> None:
    checkov = checkov_binary()
    if checkov is None:
        pytest.skip("checkov is not installed (make .tools/checkov)")
    variants: list[tuple[str, str, dict[str, Any] | None]] = [
        (c, p, None) for c in SERVICES for p in PROFILES
    ]
    observability = {"observability": {"otelCollector": {"enabled": True},
                                       "prometheusRule": {"enabled": True}}}  # fmt: skip
    variants.append(("notifier", "prod", observability))
    for chart, profile, extra in variants:
        r = render(chart, profile, extra)
        suffix = "-observability" if extra else ""
        (tmp_path / f"{chart}-{profile}{suffix}.yaml").write_text(yaml.safe_dump_all(r.docs))

    # The rendered manifests and the Dockerfiles. --skip-download keeps checkov offline; it then
    # knows no severities, so every failure counts, LOW ones included.
    result = subprocess.run(
        [checkov, "--directory", str(tmp_path), "--directory", str(REPO / "services"),
         "--framework", "kubernetes", "dockerfile", "--skip-download",
         "--output", "json", "--compact"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr[-2000:]
    reports = checkov_reports(result.stdout)
    assert {r["check_type"] for r in reports} == {"kubernetes", "dockerfile"}
    failed: list[str] = []
    skipped: list[dict[str, Any]] = []
    for report in reports:
        assert report["summary"]["parsing_errors"] == 0, report["check_type"]
        assert report["summary"]["passed"] > 0, report["check_type"]
        failed += [
            f"{f['check_id']} {f['check_name']} ({f['resource']} in {f['file_path']})"
            for f in report["results"]["failed_checks"]
        ]
        skipped += report["results"]["skipped_checks"]
    assert not failed, (
        "checkov failures: fix them, or add a checkovSkips entry (charts) or a checkov:skip "
        "comment (Dockerfiles) with the reason:\n" + "\n".join(sorted(failed))
    )
    assert skipped, "the exceptions reached checkov"
    for check in skipped:
        comment = check["check_result"].get("suppress_comment", "")
        assert len(comment) > 20, f"{check['check_id']} is skipped without a reason"
