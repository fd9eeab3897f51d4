# The Helm chart of `kscan serve` (deploy/helm/kscan), with the real Helm
# (scripts/setup.d/67-helm.sh) and the testbed's real API server:
#
# - the chart's version and appVersion are Cargo.toml's;
# - `helm lint --strict` passes with the default values, with a
#   PostgreSQL value set and with executor jobs;
# - `helm template` of several value sets (tests/helm/*.yaml) gives what
#   tests/helm/check.py asserts: a Role and RoleBinding per served namespace
#   with exactly the verbs of deploy/kscan-serve.yaml's ClusterRole and no
#   `*` (with executor jobs: and deploy/kscan-serve-jobs.yaml's, never
#   without), nothing cluster-wide, one replica with SQLite, the restricted
#   securityContext, probes on /healthz and /readyz, only flags that
#   `kscan serve --help` lists, the admission policy of deploy/ for the
#   release's identity;
# - bad values fail with a message that says what is wrong (replicas with
#   SQLite, a namespace that is not RFC 1123, an unknown key, ...);
# - every rendering is accepted by the testbed's API server
#   (`kubectl apply --dry-run=server`, in namespaces made for the run);
# - `helm install --wait` on the testbed brings the release up (kscan serve
#   Ready, see "helm install" below for how without a service image); its
#   identity has exactly its Roles' rights, the admission policy refuses it
#   a token for `default`, a scan submitted to it passes and leaves nothing,
#   an upgrade to executor jobs starts with the Job flags, adds exactly
#   jobs and pods/log to the identity's rights and runs the same scan as a
#   Job (its shards run an image of this run's kscan), leaving nothing, and
#   `helm uninstall` removes everything but the kept store claim.
#
# Every failed check is printed; the script exits 1 when there was one.
source "$(dirname "$0")/../lib.sh"
source "$KSCAN_ROOT/tests/testbed/lib/env.sh"
cd "$KSCAN_ROOT"

helm="$KSCAN_BIN/helm"
[ -x "$helm" ] || die "$helm is missing: run scripts/setup (scripts/setup.d/67-helm.sh)"
chart="$KSCAN_ROOT/deploy/helm/kscan"
python=python3
"$python" -c 'import yaml' 2>/dev/null || python=/usr/bin/python3
"$python" -c 'import yaml' 2>/dev/null || die "python3 with PyYAML is needed (apt-get install python3-yaml)"

work="$(mktemp -d "${TMPDIR:-/tmp}/kscan-helm.XXXXXX")"
namespaces=()
cleanup() {
  local ns
  for ns in "${namespaces[@]}"; do
    "$kubectl" --kubeconfig "$ADMIN_KUBECONFIG" delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  done
  if [ -n "${pv_name:-}" ]; then
    "$kubectl" --kubeconfig "$ADMIN_KUBECONFIG" delete persistentvolume "$pv_name" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
  [ -z "${pv_dir:-}" ] || rm -rf "$pv_dir"
  if [ -n "${policy_name:-}" ]; then
    "$kubectl" --kubeconfig "$ADMIN_KUBECONFIG" delete validatingadmissionpolicy,validatingadmissionpolicybinding \
      "$policy_name" --ignore-not-found >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

failures=()
fail() {
  failures+=("$*")
  printf 'FAILED: %s\n' "$*" >&2
}
pass() { log "ok: $*"; }

# The flags `kscan serve` accepts today: the chart may render no other.
kscan="$CARGO_TARGET_DIR/debug/kscan"
[ -x "$kscan" ] || cargo build --locked --quiet --bin kscan
"$kscan" serve --help >"$work/serve-help" || die "kscan serve --help failed"

# The run's namespaces: one for the release, two more it scans.
ns="kscan-helm-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# --- versions ------------------------------------------------------------
cargo_version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
chart_version=$(sed -n 's/^version: *//p' "$chart/Chart.yaml")
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' "$chart/Chart.yaml")
if [ -n "$cargo_version" ] && [ "$chart_version" = "$cargo_version" ] && [ "$app_version" = "$cargo_version" ]; then
  pass "Chart.yaml version and appVersion are Cargo.toml's ($cargo_version)"
else
  fail "Chart.yaml version '$chart_version', appVersion '$app_version', Cargo.toml '$cargo_version': all three must be the same"
fi

# --- value sets ------------------------------------------------------------
# tests/helm/*.yaml name the run's namespaces NAMESPACE, NAMESPACE-a, ...
values() {
  sed "s/NAMESPACE/$ns/g" "tests/helm/$1.yaml" >"$work/$1.yaml"
  printf '%s\n' "$work/$1.yaml"
}
postgres_values=$(values postgres)
full_values=$(values full)
jobs_values=$(values jobs)

# --- lint ------------------------------------------------------------------
for set in default postgres jobs; do
  args=()
  [ "$set" = default ] || args=(-f "$work/$set.yaml")
  if out=$("$helm" lint --strict "$chart" --namespace "$ns" "${args[@]}" 2>&1); then
    pass "helm lint --strict ($set values)"
  else
    fail "helm lint --strict ($set values): $out"
  fi
done

# --- template + checks -----------------------------------------------------
# render NAME RELEASE EXPECT_JSON [HELM ARGS...]: helm template into
# $work/NAME.rendered.yaml and check it with tests/helm/check.py.
render() {
  local name=$1 release=$2 expect=$3 out
  shift 3
  if ! out=$("$helm" template "$release" "$chart" --namespace "$ns" "$@" 2>&1 >"$work/$name.rendered.yaml"); then
    fail "helm template ($name): $out"
    return
  fi
  if out=$("$python" tests/helm/check.py "$work/$name.rendered.yaml" "$expect" deploy "$work/serve-help" 2>&1); then
    pass "helm template ($name): $(grep -c '^kind:' "$work/$name.rendered.yaml") objects as expected"
  else
    fail "helm template ($name) rendered what tests/helm/check.py refuses:
$out"
  fi
}

render default kscan "$(jq -cn --arg ns "$ns" --arg v "$cargo_version" '{
  releaseNamespace: $ns, fullname: "kscan", namespaces: [$ns], replicas: 1, store: "sqlite",
  image: ("ghcr.io/kscan/kscan:" + $v), scannerImage: ("ghcr.io/kscan/kscan-scanner:" + $v),
  claim: "kscan-data", pvcs: ["kscan-data"], tokensSecret: "kscan-tokens", tokensKey: "tokens",
  tokensCreated: true, tokenLines: 1, admission: true,
  flags: {"--workers": "2", "--queue-limit": "100", "--listen": "0.0.0.0:8080"},
  absentFlags: ["--watch", "--schedule", "--thresholds", "--callback-allow-http"]}')"

render postgres scanner "$(jq -cn --arg ns "$ns" --arg v "$cargo_version" '{
  releaseNamespace: $ns, fullname: "scanner-kscan", namespaces: [$ns, ($ns + "-a"), ($ns + "-b")],
  replicas: 3, store: "postgres", dbSecretRef: {name: "kscan-db", key: "url"},
  image: ("ghcr.io/kscan/kscan:" + $v), scannerImage: ("ghcr.io/kscan/kscan-scanner:" + $v),
  tokensSecret: "scanner-kscan-tokens", tokensKey: "tokens", tokensCreated: true, tokenLines: 2,
  admission: true, flags: {"--workers": "4", "--queue-limit": "500"}}')" -f "$postgres_values"

render full kscan "$(jq -cn --arg ns "$ns" '{
  releaseNamespace: $ns, fullname: "kscan", namespaces: [$ns], replicas: 1, store: "sqlite",
  image: "registry.example/kscan/kscan@sha256:1111111111111111111111111111111111111111111111111111111111111111",
  scannerImage: "registry.example/kscan/kscan-scanner:0.1.0-rc1",
  claim: "kscan-data", pvcs: [], tokensSecret: "my-kscan-tokens", tokensKey: "tokens.txt", admission: false,
  flags: {"--watch": "app in (web, api),tier=front", "--schedule": "0 */6 * * *", "--trigger-namespace": $ns,
          "--trigger-threshold": "moderate", "--thresholds": "/etc/kscan/thresholds", "--callback-allow-http": "",
          "--callback-allow-cidr": "10.0.0.0/8,fd00::/8", "--callback-attempts": "3", "--callback-backoff": "250ms",
          "--engine-bin": "/usr/local/bin/cinc-auditor", "--lease-name": "kscan-triggers",
          "--lease-namespace": $ns}, triggers: true}')" -f "$full_values"

# A release name that holds "kscan", a ServiceAccount named apart, and the
# admission policy naming that account.
render named kscan-prod "$(jq -cn --arg ns "$ns" --arg v "$cargo_version" '{
  releaseNamespace: $ns, fullname: "kscan-prod", serviceAccount: "scanner-sa", namespaces: [$ns], replicas: 1,
  store: "sqlite", image: ("ghcr.io/kscan/kscan:" + $v), scannerImage: ("ghcr.io/kscan/kscan-scanner:" + $v),
  claim: "kscan-prod-data", pvcs: ["kscan-prod-data"], tokensSecret: "kscan-prod-tokens", tokensKey: "tokens",
  tokensCreated: true, tokenLines: 1, admission: true}')" --set serviceAccount.name=scanner-sa

# Executor jobs: every jobs value set, and the defaults (parallelism 4, the
# shard pods run the service's own image, here by digest).
render jobs kscan "$(jq -cn --arg ns "$ns" --arg v "$cargo_version" '{
  releaseNamespace: $ns, fullname: "kscan", namespaces: [$ns, ($ns + "-a")], replicas: 1, store: "sqlite",
  image: ("ghcr.io/kscan/kscan:" + $v), scannerImage: ("ghcr.io/kscan/kscan-scanner:" + $v),
  claim: "kscan-data", pvcs: ["kscan-data"], tokensSecret: "kscan-tokens", tokensKey: "tokens",
  tokensCreated: true, tokenLines: 1, admission: true, executor: "jobs",
  dispatchImage: "registry.example/kscan/kscan-shard:0.1.0-rc1", shards: 3, parallelism: 2,
  apiServer: "198.51.100.7:6443", flags: {"--workers": "8"}}')" -f "$jobs_values"

digest=sha256:2222222222222222222222222222222222222222222222222222222222222222
render jobs-defaults kscan "$(jq -cn --arg ns "$ns" --arg v "$cargo_version" --arg d "$digest" '{
  releaseNamespace: $ns, fullname: "kscan", namespaces: [$ns], replicas: 1, store: "sqlite",
  image: ("ghcr.io/kscan/kscan@" + $d), scannerImage: ("ghcr.io/kscan/kscan-scanner:" + $v),
  claim: "kscan-data", pvcs: ["kscan-data"], tokensSecret: "kscan-tokens", tokensKey: "tokens",
  tokensCreated: true, tokenLines: 1, admission: true, executor: "jobs", dispatchImage: ("ghcr.io/kscan/kscan@" + $d),
  parallelism: 4}')" --set executor=jobs --set image.digest="$digest"

# --- bad values ------------------------------------------------------------
# refused WHAT PATTERN [HELM ARGS...]: helm template must fail, and its error
# must match PATTERN (an extended regular expression).
refused() {
  local what=$1 pattern=$2 out
  shift 2
  if out=$("$helm" template kscan "$chart" --namespace "$ns" "$@" 2>&1 >/dev/null); then
    fail "$what: helm template succeeded, expected a refusal matching /$pattern/"
  elif grep -Eq -- "$pattern" <<<"$out"; then
    pass "$what: refused ($(grep -Eo -- "$pattern" <<<"$out" | head -1))"
  else
    fail "$what: refused, but the message does not match /$pattern/: $out"
  fi
}
refused "replicaCount 2 with SQLite" \
  'replicaCount is 2 but store\.type is sqlite: .*Set replicaCount: 1, or store\.type: postgres' --set replicaCount=2
refused "a namespace that is not RFC 1123" \
  'namespaces\[1\]: "Shop_1" is not a namespace name: an RFC 1123 label is lowercase letters' \
  --set "namespaces={$ns,Shop_1}"
refused "a namespace longer than 63 characters" \
  'namespaces\[0\]: "a{64}" is not a namespace name: an RFC 1123 label is at most 63 characters \(it has 64\)' \
  --set "namespaces={$(printf 'a%.0s' $(seq 64))}"
refused "a misspelt key" \
  "(additional ?properties|additionalProperties).*replica" --set replica=2
refused "replicaCount 0" "/replicaCount.*(minimum|must be >=)" --set replicaCount=0
refused "running as root" "/runAsUser.*(minimum|must be >=)" --set runAsUser=0
refused "an unknown executor" "/executor.*(inprocess|enum)" --set executor=job
refused "a Job parallelism of 0" "/jobs/parallelism.*(minimum|must be >=)" --set executor=jobs --set jobs.parallelism=0
refused "0 shards" "/jobs/shards.*(minimum|must be >=)" --set executor=jobs --set jobs.shards=0
refused "an API server that is not HOST:PORT" "/jobs/apiServer.*(does not match|pattern)" \
  --set executor=jobs --set jobs.apiServer=https://10.0.0.1:6443
refused "an API server port above 65535" "/jobs/apiServer.*(does not match|pattern)" \
  --set executor=jobs --set jobs.apiServer=10.0.0.1:65536
refused "a misspelt jobs key" "(additional ?properties|additionalProperties).*paralelism" \
  --set executor=jobs --set jobs.paralelism=2
refused "jobs settings with executor inprocess" \
  'jobs\.apiServer is set but executor is inprocess: the jobs settings apply only to executor: jobs' \
  --set jobs.apiServer=10.0.0.1:6443
refused "an unknown store" "/store/type.*(sqlite|enum)" --set store.type=mysql
refused "postgres without its Secret" \
  'store\.type is postgres but store\.postgres\.existingSecret is empty' --set store.type=postgres --set replicaCount=2
refused "a token for a namespace the service does not serve" \
  "tokens\.entries\[0\]\.namespaces: billing is not one the service serves" \
  --set "tokens.entries[0].token=ci-token-0123456789abcdef,tokens.entries[0].scopes=scan,tokens.entries[0].namespaces={billing}"
refused "a short token" "/tokens/entries/0/token" \
  --set "tokens.entries[0].token=short,tokens.entries[0].scopes=scan,tokens.entries[0].namespaces={$ns}"
refused "a bad sha256: token" "tokens\.entries\[0\]\.token: sha256: must be followed by the 64 hex digits" \
  --set "tokens.entries[0].token=sha256:0123456789abcdef,tokens.entries[0].scopes=scan,tokens.entries[0].namespaces={$ns}"
refused "both token sources" "tokens\.existingSecret and tokens\.entries are both set" \
  --set tokens.existingSecret=mine \
  --set "tokens.entries[0].token=ci-token-0123456789abcdef,tokens.entries[0].scopes=scan,tokens.entries[0].namespaces={$ns}"
refused "an image digest that is not sha256" "/image/digest" --set image.digest=latest
refused "a trigger namespace not served" "triggers\.namespace other is not one the service serves" \
  --set triggers.namespace=other --set triggers.watch=app=web

# --- helm install on the testbed ------------------------------------------
# No kscan service image exists (a static musl build of kscan costs more than
# this test), so the release runs the kscan this run built (`cargo build`,
# glibc) from a hostPath file in the testbed's debian-standard image, which
# has the libraries it links, with the host's CA certificates (the service
# loads them at start, for https callbacks; a minimal Debian has none). Two testbed facts go in through extraEnv and
# a hostPath PersistentVolume: the testbed has no kube-proxy, so the pod
# reaches the API server at the node's address rather than through the
# `kubernetes` Service, and no storage provisioner. Everything else is the
# chart's defaults: its Role and RoleBinding in two namespaces, its token
# Secret (generated), its PersistentVolumeClaim, its admission policy.

# dispatch_image BASE_REF: pushes an image of BASE_REF (the testbed's
# debian-standard: the glibc a debug build links) with this run's kscan,
# without its debug sections, at /usr/local/bin/kscan to the testbed's
# registry, tagged after the binary's digest; prints its reference.
dispatch_image() {
  local base=$1 dir binary digest named repo ref registry
  dir=$(mktemp -d "$work/shard-image.XXXXXX")
  binary="$dir/kscan"
  objcopy --strip-debug "$kscan" "$binary" || return 1
  digest=$(sha256sum "$binary" | cut -c1-16)
  named=${base%@*}
  repo=$(repository "$base")
  registry=${named%%/*}
  ref="$registry/kscan/kscan-dispatch:helm-$digest"
  skopeo copy --quiet --src-tls-verify=false "docker://$repo@${base#*@}" "oci:$dir/oci:image" >&2 || return 1
  umoci insert --image "$dir/oci:image" "$binary" /usr/local/bin/kscan >&2 || return 1
  skopeo copy --quiet --dest-tls-verify=false "oci:$dir/oci:image" "docker://$ref" >&2 || return 1
  rm -rf "$dir"
  printf '%s\n' "$ref"
}

# scan_web: submits a scan of pod web in $ns-a to the service at $ip with
# the token in $work/auth and waits for its end; sets job (the answer) and
# status. Fails when the submission does.
scan_web() {
  local id
  id=$(curl -fsS -H @"$work/auth" -H 'Content-Type: application/json' \
    -d "{\"target\":{\"namespace\":\"$ns-a\",\"pod\":\"web\",\"container\":\"app\"}}" \
    "http://$ip:8080/api/v1/scans" | jq -er .id) || return 1
  status=queued
  for _ in $(seq 150); do
    job=$(curl -fsS -H @"$work/auth" "http://$ip:8080/api/v1/scans/$id") || break
    status=$(jq -r .status <<<"$job")
    case $status in queued | running) sleep 2 ;; *) break ;; esac
  done
}

# repository TAGGED_OR_DIGESTED_REF: the reference without tag and digest.
repository() {
  local ref=${1%@*}
  case ${ref##*/} in *:*) ref=${ref%:*} ;; esac
  printf '%s\n' "$ref"
}

install_check() {
  local standard scanner target sa release=kscan out ip id job status left
  standard=$(image_ref debian-standard)
  scanner=$(image_ref scanner)
  target=$(image_ref standard)
  sa="system:serviceaccount:$ns:kscan"
  local ca_bundle=/etc/ssl/certs/ca-certificates.crt
  [ -f "$ca_bundle" ] || { fail "no CA bundle at $ca_bundle for the installed service (apt-get install ca-certificates)"; return; }
  pv_dir=$(mktemp -d "${TMPDIR:-/tmp}/kscan-helm-store.XXXXXX")
  pv_name="$ns-store"
  chown 65532:65532 "$pv_dir"
  k apply -f - >/dev/null <<YAML || { fail "cannot create the PersistentVolume for the store"; return; }
apiVersion: v1
kind: PersistentVolume
metadata: {name: $pv_name}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: $pv_name
  hostPath: {path: $pv_dir, type: Directory}
YAML
  policy_name="$ns-kscan"
  local started=$SECONDS
  if ! out=$("$helm" install "$release" "$chart" --kubeconfig "$ADMIN_KUBECONFIG" --namespace "$ns" \
      --wait --timeout 4m \
      --set image.repository="$(repository "$standard")" --set image.digest="${standard#*@}" \
      --set scannerImage.repository="$(repository "$scanner")" --set scannerImage.digest="${scanner#*@}" \
      --set "namespaces={$ns,$ns-a}" --set store.sqlite.storageClass="$pv_name" \
      --set-json "extraVolumes=[{\"name\":\"kscan-bin\",\"hostPath\":{\"path\":\"$kscan\",\"type\":\"File\"}},
                                {\"name\":\"ca\",\"hostPath\":{\"path\":\"$ca_bundle\",\"type\":\"File\"}}]" \
      --set-json 'extraVolumeMounts=[{"name":"kscan-bin","mountPath":"/usr/local/bin/kscan","readOnly":true},
                                     {"name":"ca","mountPath":"/etc/ssl/certs/ca-certificates.crt","readOnly":true}]' \
      --set-json "extraEnv=[{\"name\":\"KUBERNETES_SERVICE_HOST\",\"value\":\"$NODE_IP\"},{\"name\":\"KUBERNETES_SERVICE_PORT\",\"value\":\"$APISERVER_PORT\"}]" \
      2>&1); then
    fail "helm install --wait: $out
$(k -n "$ns" get pods -o wide 2>&1)
$(k -n "$ns" logs deployment/kscan --tail 30 2>&1)"
    return
  fi
  ip=$(k -n "$ns" get pods -l app.kubernetes.io/instance="$release" -o jsonpath='{.items[0].status.podIP}')
  if [ "$(k -n "$ns" get deployment kscan -o jsonpath='{.status.availableReplicas}')" = 1 ] \
      && curl -fsS "http://$ip:8080/readyz" >/dev/null && curl -fsS "http://$ip:8080/healthz" >/dev/null; then
    pass "helm install --wait: the release is up in $((SECONDS - started))s (one available replica; /readyz and /healthz answer)"
  else
    fail "helm install --wait returned, but the Deployment has no available replica or $ip does not answer /readyz"
    return
  fi

  # RBAC as the release's identity: what each namespace allows, nothing elsewhere.
  can() { k auth can-i "$@" --as "$sa" >/dev/null 2>&1; }
  # (can-i reads "pods/exec" as a resource named so: subresources need --subresource.)
  local verb before=${#failures[@]}
  for verb in "list pods -n $ns" "watch pods -n $ns-a" "delete pods -n $ns-a" \
      "create pods --subresource=exec -n $ns-a" "create serviceaccounts --subresource=token -n $ns-a" \
      "patch pods --subresource=ephemeralcontainers -n $ns-a" "create roles -n $ns-a" "list rolebindings -n $ns"; do
    # shellcheck disable=SC2086 # one can-i question, split into its words
    can $verb || fail "the release's identity may not: $verb"
  done
  for verb in "get secrets -n $ns-a" "list secrets -n $ns" "update pods -n $ns-a" "list pods -n $ns-b" \
      "create pods --subresource=exec -n $ns-b" "list pods -A" "create clusterroles" \
      "create rolebindings -n kube-system" "get pods -n default" "create serviceaccounts --subresource=token -n default" \
      "create jobs.batch -n $ns-a" "list jobs.batch -n $ns" "get pods --subresource=log -n $ns-a"; do
    # shellcheck disable=SC2086
    ! can $verb || fail "the release's identity may: $verb"
  done
  [ ${#failures[@]} -gt "$before" ] \
    || pass "RBAC: the identity has what it needs in $ns and $ns-a and nothing in $ns-b or cluster-wide (no jobs, no pods/log)"

  # The admission policy is bound to this release's identity: RBAC lets it
  # request tokens, the policy only for kscan's own accounts. (A new policy
  # takes a moment to be enforced.)
  local refused=""
  for _ in $(seq 30); do
    if ! out=$(k -n "$ns-a" create token default --as "$sa" 2>&1) \
        && grep -q "may request tokens only for kscan's own ServiceAccounts" <<<"$out"; then
      refused=yes
      break
    fi
    sleep 1
  done
  if [ -n "$refused" ]; then
    pass "admission: a token for 'default' is refused to the release's identity"
  else
    fail "admission: the release's identity got (or was refused otherwise) a token for 'default': ${out:0:300}"
  fi

  # A scan through the installed service, of a pod in the second namespace.
  k -n "$ns-a" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
    - name: app
      image: $target
      command: ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait \$!; done"]
YAML
  k -n "$ns-a" wait --for=condition=Ready pod/web --timeout=120s >/dev/null || fail "the target pod did not start"
  # The generated token, from the chart's Secret, into a header file (never printed).
  (umask 077; printf 'Authorization: Bearer %s\n' \
    "$(k -n "$ns" get secret kscan-tokens -o jsonpath='{.data.tokens}' | base64 -d | awk '!/^#/ {print $1; exit}')" \
    >"$work/auth")
  if ! scan_web; then
    fail "submitting a scan to the installed service at $ip failed"
  else
    if [ "$status" = passed ] && [ "$(jq '.summary.targets[0].passed' <<<"$job")" -gt 0 ]; then
      pass "a scan through the installed service: $status, strategy $(jq -r '.summary.targets[0].strategyUsed' <<<"$job"), $(jq '.summary.targets[0].passed' <<<"$job") controls passed"
    else
      fail "a scan through the installed service ended $status: $job
$(k -n "$ns" logs deployment/kscan --tail 30 2>&1)"
    fi
  fi
  left=$(k -n "$ns-a" get serviceaccounts,secrets,roles,rolebindings,pods -l app.kubernetes.io/managed-by=kscan -o name)
  [ -z "$left" ] || fail "the scan left objects behind: $left"

  # An upgrade keeps the generated token (read back from the cluster).
  local before after
  before=$(k -n "$ns" get secret kscan-tokens -o jsonpath='{.data.tokens}' | sha256sum)
  if ! out=$("$helm" upgrade "$release" "$chart" --kubeconfig "$ADMIN_KUBECONFIG" --namespace "$ns" \
      --reuse-values --set workers=3 --wait --timeout 4m 2>&1); then
    fail "helm upgrade --reuse-values --set workers=3: $out"
  else
    after=$(k -n "$ns" get secret kscan-tokens -o jsonpath='{.data.tokens}' | sha256sum)
    if [ "$before" = "$after" ]; then
      pass "helm upgrade: the generated token is kept"
    else
      fail "helm upgrade replaced the generated token"
    fi
  fi

  # Executor jobs: the real kscan starts with the rendered Job flags, the
  # identity gets jobs and pods/log where it serves, nothing more, and a scan
  # runs as a Job whose shard pods run an image holding this run's kscan
  # (built as tests/support/cluster.rs builds it for tests/dispatch.rs).
  local shard_image
  if ! shard_image=$(dispatch_image "$standard"); then
    fail "cannot build the shard image (objcopy, skopeo, umoci: scripts/setup installs them)"
    shard_image=unbuilt
  fi
  if ! out=$("$helm" upgrade "$release" "$chart" --kubeconfig "$ADMIN_KUBECONFIG" --namespace "$ns" \
      --reuse-values --set executor=jobs --set jobs.parallelism=2 --set jobs.apiServer="$NODE_IP:$APISERVER_PORT" \
      --set jobs.image="$shard_image" --wait --timeout 4m 2>&1); then
    fail "helm upgrade --reuse-values --set executor=jobs: $out
$(k -n "$ns" logs deployment/kscan --tail 30 2>&1)"
  else
    ip=$(k -n "$ns" get pods -l app.kubernetes.io/instance="$release" -o json \
      | jq -r '[.items[] | select(.metadata.deletionTimestamp == null and .status.phase == "Running")][0].status.podIP')
    local args
    args=$(k -n "$ns" get deployment kscan -o jsonpath='{.spec.template.spec.containers[0].args}')
    if [ "$(k -n "$ns" get deployment kscan -o jsonpath='{.status.availableReplicas}')" = 1 ] \
        && jq -e 'index("--executor=jobs") and index("--parallelism=2")' <<<"$args" >/dev/null \
        && curl -fsS "http://$ip:8080/readyz" >/dev/null; then
      pass "helm upgrade --set executor=jobs: kscan serve is up with --executor=jobs and its Job flags"
    else
      fail "helm upgrade --set executor=jobs returned, but the service is not up with --executor=jobs (args $args)"
    fi
    before=${#failures[@]}
    for verb in "create jobs.batch -n $ns-a" "get jobs.batch -n $ns" "list jobs.batch -n $ns-a" \
        "delete jobs.batch -n $ns-a" "get pods --subresource=log -n $ns-a"; do
      # shellcheck disable=SC2086
      can $verb || fail "with executor jobs the release's identity may not: $verb"
    done
    for verb in "create jobs.batch -n $ns-b" "update jobs.batch -n $ns-a" "watch jobs.batch -n $ns-a" \
        "create cronjobs.batch -n $ns-a" "get pods --subresource=log -n $ns-b" "list jobs.batch -A" \
        "create jobs.batch -n default" "get secrets -n $ns-a"; do
      # shellcheck disable=SC2086
      ! can $verb || fail "with executor jobs the release's identity may: $verb"
    done
    [ ${#failures[@]} -gt "$before" ] \
      || pass "RBAC with executor jobs: jobs (create, get, list, delete) and pods/log (get) in $ns and $ns-a, nothing in $ns-b"

    # The policy's rule for Jobs, as the identity (server dry run: admission
    # runs, nothing is made): a run's Job whose pods run as the run's
    # ServiceAccount passes, one whose pods run as `default` does not.
    job_manifest() {
      cat <<YAML
apiVersion: batch/v1
kind: Job
metadata:
  name: kscan-0123456789
  labels: {app.kubernetes.io/managed-by: kscan, kscan.dev/run: "0123456789"}
spec:
  template:
    spec:
      serviceAccountName: $1
      restartPolicy: Never
      containers:
        - name: shard
          image: $target
          securityContext: {allowPrivilegeEscalation: false}
YAML
    }
    if ! out=$(job_manifest kscan-0123456789 | k -n "$ns-a" create --dry-run=server --as "$sa" -f - 2>&1); then
      fail "admission: the release's identity may not create a run's Job as the run's ServiceAccount: $out"
    elif out=$(job_manifest default | k -n "$ns-a" create --dry-run=server --as "$sa" -f - 2>&1); then
      fail "admission: the release's identity may create a Job whose pods run as 'default'"
    elif ! grep -q "Jobs kscan serve creates must run as the run's own ServiceAccount" <<<"$out"; then
      fail "admission: a Job whose pods run as 'default' was refused otherwise: ${out:0:300}"
    else
      pass "admission: a run's Job is accepted as the release's identity, one whose pods run as 'default' refused"
    fi

    # The same scan as above, now as a Job of two shard pods' worth of work.
    if ! scan_web; then
      fail "submitting a scan to the service with executor jobs at $ip failed"
    else
      local run logs
      run=$(jq -r '.runId // empty' <<<"$job")
      logs=$(k -n "$ns" logs deployment/kscan 2>&1)
      if [ "$status" = passed ] && [ "$(jq '.summary.targets[0].passed' <<<"$job")" -gt 0 ] && [ -n "$run" ] \
          && grep -q "Job kscan-$run: 1/1 shard(s) done" <<<"$logs"; then
        pass "a scan as a Job through the installed service: $status, $(jq '.summary.targets[0].passed' <<<"$job") controls passed, Job kscan-$run done"
      else
        fail "a scan as a Job through the installed service ended $status (run '$run'): $job
$(tail -n 30 <<<"$logs")"
      fi
    fi
    left=$(k -n "$ns-a" get jobs,serviceaccounts,secrets,roles,rolebindings,pods -l app.kubernetes.io/managed-by=kscan -o name)
    [ -z "$left" ] || fail "the scan as a Job left objects behind: $left"
  fi

  # Uninstall: everything goes but the store's claim (helm.sh/resource-policy: keep).
  if ! out=$("$helm" uninstall "$release" --kubeconfig "$ADMIN_KUBECONFIG" --namespace "$ns" --wait --timeout 3m 2>&1); then
    fail "helm uninstall: $out"
    return
  fi
  left=$(k get -n "$ns" deployments,serviceaccounts,secrets,services,roles,rolebindings -l app.kubernetes.io/instance="$release" -o name;
         k get -n "$ns-a" roles,rolebindings -l app.kubernetes.io/instance="$release" -o name;
         k get validatingadmissionpolicies,validatingadmissionpolicybindings -l app.kubernetes.io/instance="$release" -o name)
  if [ -n "$left" ]; then
    fail "helm uninstall left: $left"
  elif ! k -n "$ns" get pvc kscan-data >/dev/null 2>&1; then
    fail "helm uninstall removed the store's claim kscan-data (it is marked keep)"
  else
    pass "helm uninstall: every object gone but the store's claim, which is kept"
  fi
  k -n "$ns" delete pvc kscan-data --wait=false >/dev/null 2>&1 || true
}

# --- the testbed's API server ----------------------------------------------
if ! tests/testbed/testbed status >/dev/null 2>&1; then
  fail "the testbed is not up (tests/testbed/testbed status): the renderings were not checked by an API server"
else
  kubectl="$(ls -d "$TB_BIN_DIR/$KUBE_VERSION"-*/kubectl 2>/dev/null | head -n 1)"
  [ -x "$kubectl" ] || die "no kubectl under $TB_BIN_DIR/$KUBE_VERSION-*: run tests/testbed/testbed up"
  k() { "$kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }
  for n in "$ns" "$ns-a" "$ns-b"; do
    namespaces+=("$n")
    k create namespace "$n" >/dev/null || die "cannot create namespace $n on the testbed"
  done
  # Pod Security `restricted` as a warning (not enforced: the install below
  # mounts a hostPath), so that the API server says when a rendered pod
  # template would break it.
  k label namespace "$ns" pod-security.kubernetes.io/warn=restricted pod-security.kubernetes.io/warn-version=latest \
    >/dev/null || die "cannot label namespace $ns"
  for name in default postgres full named jobs jobs-defaults; do
    [ -s "$work/$name.rendered.yaml" ] || continue
    if out=$(k apply --dry-run=server -f "$work/$name.rendered.yaml" 2>&1); then
      if grep -q 'would violate PodSecurity' <<<"$out"; then
        fail "kubectl apply --dry-run=server ($name): the pod breaks Pod Security restricted: $(grep PodSecurity <<<"$out")"
      else
        pass "kubectl apply --dry-run=server ($name): $(grep -c 'created (server dry run)' <<<"$out") objects accepted, no Pod Security restricted warning"
      fi
    else
      fail "kubectl apply --dry-run=server ($name): $out"
    fi
  done
  install_check
fi

if [ ${#failures[@]} -gt 0 ]; then
  printf '\nhelm chart: %d check(s) failed:\n' "${#failures[@]}" >&2
  printf '  - %s\n' "${failures[@]%%$'\n'*}" >&2
  exit 1
fi
log "helm chart: every check passed"
