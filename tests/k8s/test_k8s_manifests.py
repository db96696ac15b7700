"""``build-image k8s``: the manifests, validated offline against the Kubernetes JSON
schemas (kubernetes-validate bundles them; strict: an unknown field is an error)
and against the restricted Pod Security Standard, rule by rule.

Each restricted-profile rule is a function that names what breaks it; the
negative tests prove every rule can fail, by breaking the manifest one field
at a time.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from builder import cli, contract, k8s, seccomp
from builder import config as config_module
from builder.errors import ConfigError, UsageError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello" / "build-image.yaml"
#: The Kubernetes versions whose schemas the manifests must satisfy: the oldest
#: kubernetes-validate (pinned in pyproject.toml) bundles, and its newest.
K8S_VERSIONS = ("1.25.0", kubernetes_validate.latest_version())

Manifest = dict[str, Any]


def _load(*overrides: str) -> config_module.Config:
    return config_module.load(EXAMPLE, overrides)


def _by_kind(documents: list[Manifest]) -> dict[str, Manifest]:
    kinds = {document["kind"]: document for document in documents}
    assert len(kinds) == len(documents) == 3
    return kinds


@pytest.fixture(scope="module", params=[(), ("launcher.epmdless=true",), ("launcher.dist_port=25000",)],
                ids=["epmd", "epmdless", "dist_port"])
def config(request: pytest.FixtureRequest) -> config_module.Config:
    return _load(*request.param)


@pytest.fixture(scope="module")
def kinds(config: config_module.Config) -> dict[str, Manifest]:
    return _by_kind(k8s.manifests(config))


def _pod(kinds: dict[str, Manifest]) -> Manifest:
    return kinds["StatefulSet"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def _container(kinds: dict[str, Manifest]) -> Manifest:
    [container] = _pod(kinds)["containers"]
    return container  # type: ignore[no-any-return]


# -- schemas -----------------------------------------------------------------

@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_is_valid_against_the_kubernetes_schema(kinds: dict[str, Manifest], version: str) -> None:
    for manifest in kinds.values():
        kubernetes_validate.validate(manifest, version, strict=True)


def test_the_schema_check_is_strict() -> None:
    statefulset = _by_kind(k8s.manifests(_load()))["StatefulSet"]
    _container({"StatefulSet": statefulset})["securityContext"]["runAsNonRot"] = True
    with pytest.raises(kubernetes_validate.ValidationError, match="runAsNonRot"):
        kubernetes_validate.validate(statefulset, K8S_VERSIONS[-1], strict=True)
    statefulset["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, K8S_VERSIONS[-1], strict=False)


def test_the_command_writes_valid_yaml_and_the_profile_where_the_pods_look(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "k8s"
    assert cli.main(["k8s", "-c", str(EXAMPLE), "-o", str(out), "--image", "registry.example/hello@sha256:" + "0" * 64,
                     "--replicas", "2"]) == 0
    printed = capsys.readouterr().out.split()
    manifests = sorted(out.glob("*.yaml"))
    assert [p.name for p in manifests] == ["networkpolicy.yaml", "service.yaml", "statefulset.yaml"]
    documents = [yaml.safe_load(path.read_text()) for path in manifests]
    for document in documents:
        kubernetes_validate.validate(document, K8S_VERSIONS[-1], strict=True)
    kinds = _by_kind(documents)
    assert kinds["StatefulSet"]["spec"]["replicas"] == 2
    assert _container(kinds)["image"] == "registry.example/hello@sha256:" + "0" * 64
    # The profile lies below seccomp/ as it must below the kubelet's seccomp directory.
    profile_ref = _pod(kinds)["securityContext"]["seccompProfile"]["localhostProfile"]
    profile = out / "seccomp" / profile_ref
    assert profile.name == seccomp.PROFILE_NAME
    assert json.loads(profile.read_text()) == seccomp.profile_for(_load())
    assert sorted(printed) == sorted(str(p) for p in [*manifests, profile])
    assert "&id" not in (out / "statefulset.yaml").read_text()  # no YAML anchors


# -- the restricted Pod Security Standard, rule by rule ------------------------

def _containers(pod: Manifest) -> Iterator[Manifest]:
    yield from pod.get("initContainers", [])
    yield from pod["containers"]
    yield from pod.get("ephemeralContainers", [])


def _effective(pod: Manifest, container: Manifest, key: str) -> Any:
    """A container's setting, else the pod's (as the kubelet resolves it)."""
    value = container.get("securityContext", {}).get(key)
    return pod.get("securityContext", {}).get(key) if value is None else value


def _host_namespaces(pod: Manifest) -> list[str]:
    return [f"{key} is set" for key in ("hostNetwork", "hostPID", "hostIPC") if pod.get(key)]


def _privileged(pod: Manifest) -> list[str]:
    return [f"{c['name']} is privileged" for c in _containers(pod) if c.get("securityContext", {}).get("privileged")]


def _capabilities(pod: Manifest) -> list[str]:
    problems = []
    for c in _containers(pod):
        capabilities = c.get("securityContext", {}).get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"{c['name']} does not drop ALL capabilities")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{c['name']} adds {capabilities['add']}")
    return problems


def _host_paths_and_volume_types(pod: Manifest) -> list[str]:
    allowed = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected",
               "secret"}
    return [f"volume {v['name']} is {set(v) - {'name'}}" for v in pod.get("volumes", []) if set(v) - {"name"} - allowed]


def _host_ports(pod: Manifest) -> list[str]:
    return [f"{c['name']} binds host port {p['hostPort']}" for c in _containers(pod)
            for p in c.get("ports", []) if p.get("hostPort")]


def _privilege_escalation(pod: Manifest) -> list[str]:
    return [f"{c['name']} may escalate privileges" for c in _containers(pod)
            if c.get("securityContext", {}).get("allowPrivilegeEscalation") is not False]


def _non_root(pod: Manifest) -> list[str]:
    problems = []
    for c in _containers(pod):
        if _effective(pod, c, "runAsNonRoot") is not True:
            problems.append(f"{c['name']} is not runAsNonRoot")
        if _effective(pod, c, "runAsUser") == 0:
            problems.append(f"{c['name']} runs as user 0")
    return problems


def _seccomp(pod: Manifest) -> list[str]:
    problems = []
    for c in _containers(pod):
        profile = _effective(pod, c, "seccompProfile") or {}
        if profile.get("type") not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{c['name']} has seccomp {profile.get('type')}")
        if profile.get("type") == "Localhost" and not profile.get("localhostProfile"):
            problems.append(f"{c['name']} names no Localhost profile")
    return problems


def _unsafe_settings(pod: Manifest) -> list[str]:
    """AppArmor, SELinux, /proc mount type and sysctls: left at their safe defaults."""
    problems = [f"sysctl {s['name']}" for s in pod.get("securityContext", {}).get("sysctls", [])]
    for c in _containers(pod):
        context = c.get("securityContext", {})
        if context.get("procMount", "Default") != "Default":
            problems.append(f"{c['name']} procMount {context['procMount']}")
        if _effective(pod, c, "appArmorProfile") not in (None, {"type": "RuntimeDefault"}):
            problems.append(f"{c['name']} appArmor {_effective(pod, c, 'appArmorProfile')}")
        if (_effective(pod, c, "seLinuxOptions") or {}).get("user"):
            problems.append(f"{c['name']} sets an SELinux user")
    return problems


def _read_only_root(pod: Manifest) -> list[str]:
    """Not in the standard, but the image is built for it: nothing writes outside /tmp."""
    return [f"{c['name']} has a writable root" for c in _containers(pod)
            if c.get("securityContext", {}).get("readOnlyRootFilesystem") is not True]


RULES: dict[str, Callable[[Manifest], list[str]]] = {
    "host namespaces": _host_namespaces,
    "privileged": _privileged,
    "capabilities": _capabilities,
    "volume types": _host_paths_and_volume_types,
    "host ports": _host_ports,
    "privilege escalation": _privilege_escalation,
    "non-root": _non_root,
    "seccomp": _seccomp,
    "AppArmor, SELinux, procMount, sysctls": _unsafe_settings,
    "read-only root": _read_only_root,
}


@pytest.mark.parametrize("rule", RULES)
def test_the_pod_meets_the_restricted_rule(kinds: dict[str, Manifest], rule: str) -> None:
    assert RULES[rule](_pod(kinds)) == []


def _c(pod: Manifest) -> Manifest:
    return pod["containers"][0]["securityContext"]  # type: ignore[no-any-return]


BREAKS: dict[str, Callable[[Manifest], None]] = {
    "host namespaces": lambda pod: pod.update(hostPID=True),
    "privileged": lambda pod: _c(pod).update(privileged=True),
    "capabilities": lambda pod: _c(pod).update(capabilities={"add": ["SYS_PTRACE"], "drop": ["ALL"]}),
    "volume types": lambda pod: pod["volumes"].append({"name": "root", "hostPath": {"path": "/"}}),
    "host ports": lambda pod: pod["containers"][0]["ports"][0].update(hostPort=80),
    "privilege escalation": lambda pod: _c(pod).pop("allowPrivilegeEscalation"),
    "non-root": lambda pod: (_c(pod).update(runAsUser=0)),
    "seccomp": lambda pod: (_c(pod).update(seccompProfile={"type": "Unconfined"})),
    "AppArmor, SELinux, procMount, sysctls": lambda pod: _c(pod).update(procMount="Unmasked"),
    "read-only root": lambda pod: _c(pod).update(readOnlyRootFilesystem=False),
}


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_fails_when_the_manifest_breaks_it(rule: str) -> None:
    pod = copy.deepcopy(_pod(_by_kind(k8s.manifests(_load()))))
    BREAKS[rule](pod)
    assert RULES[rule](pod) != []
    assert [name for name, check in RULES.items() if check(pod)] == [rule]


def test_the_pod_and_container_both_carry_the_contracts_user_and_the_profile(kinds: dict[str, Manifest]) -> None:
    pod, container = _pod(kinds), _container(kinds)
    for context in (pod["securityContext"], container["securityContext"]):
        assert context["runAsNonRoot"] is True
        assert (context["runAsUser"], context["runAsGroup"]) == (contract.RUN_UID, contract.RUN_GID)
        assert context["seccompProfile"] == {"type": "Localhost",
                                             "localhostProfile": f"build-image/hello/{seccomp.PROFILE_NAME}"}
    assert pod["securityContext"]["fsGroup"] == contract.RUN_GID
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


# -- the launcher's environment, secrets and volumes ---------------------------

def test_pod_ip_comes_from_the_downward_api(kinds: dict[str, Manifest]) -> None:
    env = {e["name"]: e for e in _container(kinds)["env"]}
    assert env["POD_IP"] == {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def test_the_cookie_comes_from_a_secret_by_reference(kinds: dict[str, Manifest]) -> None:
    env = {e["name"]: e for e in _container(kinds)["env"]}
    assert "value" not in env[contract.COOKIE_VAR]
    assert env[contract.COOKIE_VAR]["valueFrom"] == {"secretKeyRef": {"name": "hello-cookie", "key": k8s.COOKIE_KEY}}


def test_no_variable_is_one_the_launcher_refuses(kinds: dict[str, Manifest]) -> None:
    pod = _pod(kinds)
    assert pod["enableServiceLinks"] is False  # a Service named erl-… would inject ERL_* variables
    for e in _container(kinds)["env"]:
        assert not e["name"].startswith(contract.REFUSED_ENV_PREFIXES), e["name"]
        assert e["name"] not in contract.REFUSED_ENV_NAMES
    assert "envFrom" not in _container(kinds)


def test_the_dist_certs_are_a_read_only_secret_volume_at_the_contracts_mount(kinds: dict[str, Manifest]) -> None:
    pod, container = _pod(kinds), _container(kinds)
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    certs = mounts[contract.DIST_CERTS_MOUNT]
    assert certs["readOnly"] is True
    [volume] = [v for v in pod["volumes"] if v["name"] == certs["name"]]
    assert volume["secret"]["secretName"] == "hello-dist-certs"
    assert volume["secret"]["defaultMode"] == 0o400
    assert [(i["key"], i["path"]) for i in volume["secret"]["items"]] == [(f, f) for f in contract.DIST_CERT_FILES]


def test_tmp_is_memory_sized_like_the_contracts_tmpfs(kinds: dict[str, Manifest]) -> None:
    pod, container = _pod(kinds), _container(kinds)
    [tmp] = [m for m in container["volumeMounts"] if m["mountPath"] == contract.RELEASE_TMP]
    [volume] = [v for v in pod["volumes"] if v["name"] == tmp["name"]]
    assert volume["emptyDir"] == {"medium": "Memory", "sizeLimit": "64Mi"}
    assert "size=64m" in contract.TMPFS_OPTIONS


def test_pods_never_get_a_service_account_token(kinds: dict[str, Manifest]) -> None:
    assert _pod(kinds)["automountServiceAccountToken"] is False


# -- Service and NetworkPolicy -------------------------------------------------

def _dist_ports(config: config_module.Config) -> set[int]:
    return {config.launcher.dist_port} | (set() if config.launcher.epmdless else {4369})


def test_the_service_is_headless_and_selects_the_pods(kinds: dict[str, Manifest]) -> None:
    service, statefulset = kinds["Service"], kinds["StatefulSet"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"] == "hello"
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert statefulset["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_network_policy_opens_distribution_only_between_the_releases_pods(
        config: config_module.Config, kinds: dict[str, Manifest]) -> None:
    policy, statefulset = kinds["NetworkPolicy"], kinds["StatefulSet"]
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    assert spec["podSelector"] == {"matchLabels": {k8s.NAME_LABEL: "hello"}}
    assert spec["podSelector"]["matchLabels"].items() <= labels.items()
    dist_rule, http_rule = spec["ingress"]
    assert dist_rule["from"] == [{"podSelector": spec["podSelector"]}]
    assert {p["port"] for p in dist_rule["ports"]} == _dist_ports(config)
    assert {p["protocol"] for p in dist_rule["ports"]} == {"TCP"}
    # Open to everyone: the app's HTTP port, nothing else.
    assert "from" not in http_rule
    assert http_rule["ports"] == [{"protocol": "TCP", "port": contract.DEFAULT_HTTP_PORT}]
    container_ports = {p["containerPort"] for p in _container(kinds)["ports"]}
    assert container_ports == _dist_ports(config) | {contract.DEFAULT_HTTP_PORT}


def test_epmdless_builds_open_no_epmd_port() -> None:
    kinds = _by_kind(k8s.manifests(_load("launcher.epmdless=true")))
    ports = [p["port"] for rule in kinds["NetworkPolicy"]["spec"]["ingress"] for p in rule["ports"]]
    assert 4369 not in ports
    assert 4369 not in [p["containerPort"] for p in _container(kinds)["ports"]]


# -- names and refusals --------------------------------------------------------

def test_names_follow_the_release_in_kubernetes_spelling() -> None:
    kinds = _by_kind(k8s.manifests(_load("release=my__app_")))
    assert {m["metadata"]["name"] for m in kinds.values()} == {"my-app"}
    env = {e["name"]: e for e in _container(kinds)["env"]}
    assert env[contract.COOKIE_VAR]["valueFrom"]["secretKeyRef"]["name"] == "my-app-cookie"
    assert _pod(kinds)["securityContext"]["seccompProfile"]["localhostProfile"] == "build-image/my-app/seccomp.json"
    for manifest in kinds.values():
        kubernetes_validate.validate(manifest, K8S_VERSIONS[-1], strict=True)


def test_a_release_too_long_for_a_statefulset_is_refused() -> None:
    with pytest.raises(ConfigError, match="cannot name Kubernetes objects"):
        k8s.manifests(_load("release=" + "a" * 53))


@pytest.mark.parametrize("options", [{"replicas": 0}, {"http_port": 24369}, {"http_port": 70000}])
def test_bad_options_are_usage_errors(options: dict[str, int]) -> None:
    with pytest.raises(UsageError):
        k8s.manifests(_load(), **options)  # type: ignore[arg-type]
