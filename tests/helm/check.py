#!/usr/bin/env python3
"""Checks on one rendering of the kscan chart (`helm template` output).

    check.py RENDERED EXPECT_JSON DEPLOY_DIR SERVE_HELP

RENDERED is the multi-document YAML of `helm template`; EXPECT_JSON says
what this value set must give (see scripts/test.d/helm.sh); DEPLOY_DIR is
deploy/ (its ClusterRoles and admission policy are the reference the chart
must match); SERVE_HELP is the output of `kscan serve --help` (every flag
the chart renders must be one kscan serve accepts). Prints each failed
check and exits 1 when there was one.
"""

import base64
import json
import re
import sys

import yaml

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
    return ok


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def rules_of(role):
    """{(apiGroup, resource): sorted verbs} of a Role or ClusterRole."""
    out = {}
    for rule in role.get("rules", []):
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                key = (group, resource)
                check(key not in out, f"{role['metadata']['name']}: {key} appears in two rules")
                out[key] = sorted(rule.get("verbs", []))
    return out


def main():
    rendered, expect_json, deploy_dir, help_path = sys.argv[1:5]
    expect = json.loads(expect_json)
    docs = load_all(rendered)
    ns = expect["releaseNamespace"]
    name = expect["fullname"]
    sa = expect.get("serviceAccount", name)

    # Reference: what deploy/ proved least-privilege with tests/serve.rs;
    # with executor jobs, and only then, kscan-serve-jobs.yaml's rules too.
    executor = expect.get("executor", "inprocess")
    deploy = load_all(f"{deploy_dir}/kscan-serve.yaml")
    (reference_role,) = [d for d in deploy if d["kind"] == "ClusterRole"]
    reference_rules = rules_of(reference_role)
    reference_files = "deploy/kscan-serve.yaml's ClusterRole"
    if executor == "jobs":
        (jobs_role,) = [d for d in load_all(f"{deploy_dir}/kscan-serve-jobs.yaml") if d["kind"] == "ClusterRole"]
        jobs_rules = rules_of(jobs_role)
        check(not set(jobs_rules) & set(reference_rules),
              f"deploy/kscan-serve-jobs.yaml grants again what kscan-serve.yaml does: {set(jobs_rules) & set(reference_rules)}")
        reference_rules = {**reference_rules, **jobs_rules}
        reference_files += " and deploy/kscan-serve-jobs.yaml's"
    admission = load_all(f"{deploy_dir}/kscan-serve-admission.yaml")

    kinds = sorted(d["kind"] for d in docs)
    for kind in ("ClusterRole", "ClusterRoleBinding"):
        check(not by_kind(docs, kind), f"a {kind} is rendered: the service must get nothing cluster-wide")

    # RBAC: one Role and one RoleBinding per served namespace, exactly the reference's rules.
    served = expect["namespaces"]
    lease_name = f"{name}-lease"
    lease_roles = [r for r in by_kind(docs, "Role") if r["metadata"]["name"] == lease_name]
    lease_bindings = [b for b in by_kind(docs, "RoleBinding") if b["metadata"]["name"] == lease_name]
    roles = [r for r in by_kind(docs, "Role") if r["metadata"]["name"] != lease_name]
    bindings = [b for b in by_kind(docs, "RoleBinding") if b["metadata"]["name"] != lease_name]
    # The triggers' Lease (leader election): only with triggers, only in the
    # release's namespace, only that Lease by name (create cannot be narrowed).
    triggers = expect.get("triggers", False)
    check(len(lease_roles) == (1 if triggers else 0) and len(lease_bindings) == len(lease_roles),
          f"lease Role/RoleBinding: {len(lease_roles)}/{len(lease_bindings)}, expected {1 if triggers else 0} each")
    for role in lease_roles:
        check(role["metadata"]["namespace"] == ns, f"the lease Role is in {role['metadata']['namespace']}, not {ns}")
        check(role["rules"] == [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [f"{name}-triggers"],
             "verbs": ["get", "update"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        ], f"the lease Role grants {role['rules']}")
    for binding in lease_bindings:
        check(binding["roleRef"]["name"] == lease_name
              and binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
              f"the lease RoleBinding binds {binding['roleRef']} to {binding['subjects']}")
    check(sorted(r["metadata"]["namespace"] for r in roles) == sorted(served),
          f"Roles are in {sorted(r['metadata']['namespace'] for r in roles)}, expected one in each of {sorted(served)}")
    check(sorted(b["metadata"]["namespace"] for b in bindings) == sorted(served),
          f"RoleBindings are in {sorted(b['metadata']['namespace'] for b in bindings)}, expected one in each of {sorted(served)}")
    for role in roles:
        where = f"Role {role['metadata']['namespace']}/{role['metadata']['name']}"
        rules = rules_of(role)
        check(rules == reference_rules, f"{where}: rules {rules} differ from {reference_files} {reference_rules}")
        for rule in role.get("rules", []):
            for field in ("verbs", "resources", "apiGroups"):
                check("*" not in rule.get(field, []), f"{where}: '*' in {field}")
            check("resourceNames" not in rule or rule["resourceNames"], f"{where}: empty resourceNames")
        for (group, resource), verbs in rules.items():
            if resource == "secrets":
                check(not {"get", "list", "watch"} & set(verbs), f"{where}: the service may read Secrets ({verbs})")
    for binding in bindings:
        where = f"RoleBinding {binding['metadata']['namespace']}/{binding['metadata']['name']}"
        check(binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
              f"{where}: roleRef {binding['roleRef']} is not the Role {name}")
        check(binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
              f"{where}: subjects {binding['subjects']} are not exactly ServiceAccount {ns}/{sa}")

    (account,) = by_kind(docs, "ServiceAccount") or [None]
    check(account and account["metadata"]["name"] == sa and account["metadata"]["namespace"] == ns,
          f"no ServiceAccount {ns}/{sa}")

    # The Deployment.
    deployments = by_kind(docs, "Deployment")
    if not check(len(deployments) == 1, f"{len(deployments)} Deployments rendered, expected 1"):
        return
    deployment = deployments[0]
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    replicas = spec.get("replicas", 1)
    check(replicas == expect["replicas"], f"replicas {replicas}, expected {expect['replicas']}")
    sqlite = expect["store"] == "sqlite"
    if sqlite:
        check(replicas == 1, f"{replicas} replicas on the SQLite store")
        check(spec.get("strategy", {}).get("type") == "Recreate", "SQLite store without the Recreate strategy")
    check(pod.get("serviceAccountName") == sa, f"pod's serviceAccountName {pod.get('serviceAccountName')}, expected {sa}")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        check(not pod.get(field), f"pod sets {field}")
    for volume in pod.get("volumes", []):
        check("hostPath" not in volume, f"volume {volume['name']} is a hostPath")
    psc = pod.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True, "pod securityContext.runAsNonRoot is not true")
    check(psc.get("runAsUser", 0) != 0, "pod runs as user 0")
    check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "pod seccompProfile is not RuntimeDefault")

    containers = pod["containers"] + pod.get("initContainers", [])
    for c in containers:
        where = f"container {c['name']}"
        sc = c.get("securityContext", {})
        check(sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem is not true")
        check(sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation is not false")
        check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: capabilities.drop is not [ALL]")
        check(not sc.get("capabilities", {}).get("add"), f"{where}: adds capabilities")
        check(not sc.get("privileged"), f"{where}: privileged")
        check(sc.get("runAsUser", 1) != 0, f"{where}: runs as user 0")

    (kscan,) = [c for c in pod["containers"] if c["name"] == "kscan"]
    check(kscan["image"] == expect["image"], f"image {kscan['image']}, expected {expect['image']}")
    check(kscan.get("command") == ["/usr/local/bin/kscan"], f"command {kscan.get('command')}")
    args = kscan.get("args", [])
    check(args[:1] == ["serve"], f"args do not start with serve: {args}")

    # Every flag is one `kscan serve` accepts today.
    with open(help_path, encoding="utf-8") as f:
        accepted = set(re.findall(r"(?m)^\s+(?:-\w, )?(--[a-z][a-z0-9-]*)", f.read()))
    check("--db" in accepted and "--namespaces" in accepted, f"cannot read the flags of `kscan serve --help`: {sorted(accepted)}")
    flags = {}
    for arg in args[1:]:
        flag, _, value = arg.partition("=")
        check(flag in accepted, f"argument {arg!r}: kscan serve has no flag {flag}")
        check(flag not in flags or flag in expect.get("repeatable", []), f"flag {flag} given twice")
        flags[flag] = value
    check(flags.get("--namespaces", "").split(",") == served,
          f"--namespaces={flags.get('--namespaces')}, expected {','.join(served)}")
    check(flags.get("--scanner-image") == expect["scannerImage"],
          f"--scanner-image={flags.get('--scanner-image')}, expected {expect['scannerImage']}")
    for flag, value in expect.get("flags", {}).items():
        check(flags.get(flag) == value, f"{flag}={flags.get(flag)!r}, expected {value!r}")
    for flag in expect.get("absentFlags", []):
        check(flag not in flags, f"{flag} is rendered")
    # The executor: its flags with jobs, none of them without (kscan serve
    # refuses --shards, --parallelism and --dispatch-api-server without it).
    job_flags = ("--executor", "--shards", "--parallelism", "--dispatch-image", "--dispatch-api-server")
    if executor == "jobs":
        check(flags.get("--executor") == "jobs", f"--executor={flags.get('--executor')!r} with executor jobs")
        dispatch_image = expect.get("dispatchImage", expect["image"])
        check(flags.get("--dispatch-image") == dispatch_image,
              f"--dispatch-image={flags.get('--dispatch-image')!r}, expected {dispatch_image!r}")
        parallelism = str(expect.get("parallelism", 4))
        check(flags.get("--parallelism") == parallelism,
              f"--parallelism={flags.get('--parallelism')!r}, expected {parallelism!r}")
        for flag, key in (("--shards", "shards"), ("--dispatch-api-server", "apiServer")):
            want = expect.get(key)
            check(flags.get(flag) == (None if want is None else str(want)), f"{flag}={flags.get(flag)!r}, expected {want!r}")
    else:
        for flag in job_flags:
            check(flag not in flags, f"{flag}={flags.get(flag)!r} is rendered with executor {executor}")

    env = {e["name"]: e for e in kscan.get("env", [])}
    mounts = {m["name"]: m for m in kscan.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    if sqlite:
        check(flags.get("--db") == "/var/lib/kscan/kscan.db", f"--db={flags.get('--db')} with the SQLite store")
        check(mounts.get("data", {}).get("mountPath") == "/var/lib/kscan", "the store's volume is not at /var/lib/kscan")
        claim = volumes.get("data", {}).get("persistentVolumeClaim", {}).get("claimName")
        check(claim == expect["claim"], f"store claim {claim}, expected {expect['claim']}")
        pvcs = [p["metadata"]["name"] for p in by_kind(docs, "PersistentVolumeClaim")]
        check(pvcs == expect["pvcs"], f"PersistentVolumeClaims {pvcs}, expected {expect['pvcs']}")
        check("KSCAN_DB" not in env, "KSCAN_DB is set with the SQLite store")
    else:
        check("--db" not in flags, f"--db={flags.get('--db')}: the URL must come from KSCAN_DB only, not the arguments")
        ref = env.get("KSCAN_DB", {}).get("valueFrom", {}).get("secretKeyRef")
        check(ref == expect["dbSecretRef"], f"KSCAN_DB comes from {ref}, expected the Secret key {expect['dbSecretRef']}")
        check(not by_kind(docs, "PersistentVolumeClaim"), "a PersistentVolumeClaim is rendered with the PostgreSQL store")
        check("postgres://" not in open(rendered, encoding="utf-8").read(), "a PostgreSQL URL is in the rendering")
    check(env.get("TMPDIR", {}).get("value") == "/tmp" and "emptyDir" in volumes.get("tmp", {}),
          "TMPDIR is not a private emptyDir at /tmp")

    # Probes on the routes that need no token.
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = kscan.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path and get.get("port") == "http", f"{probe} is not GET {path} on port http: {get}")
    (port,) = kscan["ports"]
    check(flags.get("--listen", "").endswith(f":{port['containerPort']}"),
          f"--listen={flags.get('--listen')} does not listen on containerPort {port['containerPort']}")

    # The tokens: the chart's Secret or the one named.
    token_file = flags.get("--token-file", "")
    secret_name = volumes.get("tokens", {}).get("secret", {}).get("secretName")
    check(secret_name == expect["tokensSecret"], f"tokens come from Secret {secret_name}, expected {expect['tokensSecret']}")
    check(token_file == f"/etc/kscan/tokens/{expect['tokensKey']}", f"--token-file={token_file}")
    secrets = by_kind(docs, "Secret")
    if expect.get("tokensCreated"):
        (secret,) = secrets
        text = base64.b64decode(secret["data"][expect["tokensKey"]]).decode()
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
        check(len(lines) == expect["tokenLines"], f"{len(lines)} token lines, expected {expect['tokenLines']}")
        for line in lines:
            fields = dict(f.split("=", 1) for f in line.split()[1:])
            check(fields.get("scopes") in ("read", "scan", "admin"), f"token line without a scope: {fields}")
            listed = fields.get("namespaces", "").split(",")
            check(listed == ["*"] or set(listed) <= set(served), f"token line with namespaces not served: {listed}")
    else:
        check(not secrets, f"a Secret is rendered although tokens.existingSecret is set: {[s['metadata']['name'] for s in secrets]}")

    service = by_kind(docs, "Service")
    check(len(service) == 1 and service[0]["spec"]["selector"] == spec["selector"]["matchLabels"],
          "the Service does not select the Deployment's pods")

    # The admission policy: deploy/'s, for this release's identity.
    policies = by_kind(docs, "ValidatingAdmissionPolicy")
    policy_bindings = by_kind(docs, "ValidatingAdmissionPolicyBinding")
    if expect["admission"]:
        if check(len(policies) == 1 and len(policy_bindings) == 1, "admission policy enabled but not rendered once"):
            (reference,) = [d for d in admission if d["kind"] == "ValidatingAdmissionPolicy"]
            (reference_binding,) = [d for d in admission if d["kind"] == "ValidatingAdmissionPolicyBinding"]
            identity = f"system:serviceaccount:{ns}:{sa}"
            expected_spec = json.loads(
                json.dumps(reference["spec"]).replace("system:serviceaccount:kscan:kscan-serve", identity)
            )
            check(policies[0]["spec"] == expected_spec,
                  "the ValidatingAdmissionPolicy differs from deploy/kscan-serve-admission.yaml (for identity "
                  + identity + ")")
            check(identity in json.dumps(policies[0]["spec"]), f"the policy does not name {identity}")
            binding = policy_bindings[0]
            check(binding["spec"]["policyName"] == policies[0]["metadata"]["name"], "the policy binding names another policy")
            rest = {k: v for k, v in binding["spec"].items() if k != "policyName"}
            ref_rest = {k: v for k, v in reference_binding["spec"].items() if k != "policyName"}
            check(rest == ref_rest, f"the policy binding {rest} differs from deploy/'s {ref_rest}")
    else:
        check(not policies and not policy_bindings, "admission policy disabled but rendered")

    known = {"ServiceAccount", "Role", "RoleBinding", "Deployment", "Service", "Secret", "PersistentVolumeClaim",
             "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    check(set(kinds) <= known, f"unexpected kinds rendered: {sorted(set(kinds) - known)}")
    for d in docs:
        if d["kind"] not in ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"):
            check(d["metadata"].get("namespace") is not None, f"{d['kind']} {d['metadata']['name']} has no namespace")


if __name__ == "__main__":
    main()
    for failure in failures:
        print(f"  FAILED: {failure}", file=sys.stderr)
    sys.exit(1 if failures else 0)
