# The node: network bridge, containerd + CNI, and the Kubernetes components,
# each started as its own session (so they outlive `up` and ignore the
# caller's terminal) with its PID in $PIDS and its log in $LOGS.

# pid_of NAME: the PID of a running component, or nothing. A PID counts only
# if that process's command line still names this testbed's run directory,
# so a recycled PID is never taken for ours.
pid_of() {
  local file="$PIDS/$1" pid
  [ -f "$file" ] || return 1
  pid=$(<"$file")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$RUN" || return 1
  printf '%s\n' "$pid"
}

# start NAME ARGV...: runs ARGV in its own session, logging to $LOGS/NAME.log.
start() {
  local name=$1; shift
  if pid_of "$name" >/dev/null; then return 0; fi
  printf '\n==> %s %s\n' "$(date -Is)" "$*" >>"$LOGS/$name.log"
  # 9>&-: the daemon must not inherit (and so hold) the testbed lock.
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
  printf '%s\n' "$!" >"$PIDS/$name"
}

# stop NAME: SIGTERM, then SIGKILL after 15 s.
stop() {
  local name=$1 pid i
  pid=$(pid_of "$name") || { rm -f "$PIDS/$name"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    [ -d "/proc/$pid" ] || break
    sleep 0.1
  done
  if [ -d "/proc/$pid" ]; then
    log "$name (pid $pid) ignored SIGTERM for 15s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDS/$name"
}

# wait_for WHAT SECONDS LOGNAME COMMAND...: polls COMMAND every half second.
wait_for() {
  local what=$1 timeout=$2 logname=$3; shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$logname" ] && ! pid_of "$logname" >/dev/null; then
      tail -n 40 "$LOGS/$logname.log" >&2
      die "$logname exited while waiting for $what (log: $LOGS/$logname.log)"
    fi
    if ((SECONDS >= deadline)); then
      [ -n "$logname" ] && tail -n 40 "$LOGS/$logname.log" >&2
      die "timed out after ${timeout}s waiting for $what${logname:+ (log: $LOGS/$logname.log)}"
    fi
    sleep 0.5
  done
}

# The pod bridge carries the node IP, so it exists before anything starts.
bridge_up() {
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge \
    || die "could not create the bridge $BRIDGE (ip link add $BRIDGE type bridge)"
  ip addr show dev "$BRIDGE" | grep -qF " $NODE_IP/" || ip addr add "$NODE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

write_containerd_config() {
  mkdir -p "$RUN/containerd" "$RUN/cni/net.d"
  cat >"$RUN/containerd/config.toml" <<TOML
version = 2
root = "$RUN/containerd/root"
state = "$RUN/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$CONTAINERD_SOCK"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  stream_server_address = "127.0.0.1"
  enable_selinux = false
  # The kubelet asks for a negative oom_score_adj for pod sandboxes (-998) and
  # Guaranteed pods (-997); lowering it needs CAP_SYS_RESOURCE, which this
  # host's bounding set lacks, and runc then dies with "can't get final
  # child's PID from pipe: EOF". Clamp to containerd's own score instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$OCI_RUNTIME"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$RUN/cni/net.d"
  # Registry hosts, one directory per registry (containerd 1.6's hosts.toml).
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$RUN/containerd/certs.d"
TOML
  # The testbed registry speaks plain HTTP on loopback; every other registry
  # keeps containerd's defaults (HTTPS) and is unreachable from here anyway.
  mkdir -p "$RUN/containerd/certs.d/$REGISTRY"
  cat >"$RUN/containerd/certs.d/$REGISTRY/hosts.toml" <<TOML
server = "http://$REGISTRY"

[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
TOML
  # containerd's CRI plugin reports the network ready once this exists.
  cat >"$RUN/cni/net.d/10-kscan-testbed.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "kscan-testbed",
  "plugins": [{
    "type": "bridge",
    "bridge": "$BRIDGE",
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": "$POD_SUBNET", "rangeStart": "$POD_RANGE_START", "gateway": "$NODE_IP"}]],
      "dataDir": "$RUN/cni/ipam"
    }
  }]
}
JSON
}

# The registry: Debian's docker-registry (distribution 2.8) on loopback,
# plain HTTP, no authentication (nothing but this machine reaches it), its
# storage under $REGISTRY_STORAGE so that it survives `down`.
write_registry_config() {
  mkdir -p "$RUN/registry" "$REGISTRY_STORAGE"
  cat >"$RUN/registry/config.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog: {disabled: true}
  fields: {service: kscan-testbed-registry}
storage:
  filesystem: {rootdirectory: $REGISTRY_STORAGE}
  delete: {enabled: true}
  maintenance:
    uploadpurging: {enabled: true, age: 24h, interval: 24h, dryrun: false}
http:
  addr: $REGISTRY
  headers:
    X-Content-Type-Options: [nosniff]
YAML
}

registry_ready() { curl -fsS --max-time 2 "http://$REGISTRY/v2/" >/dev/null; }

start_registry() {
  write_registry_config
  start registry docker-registry serve "$RUN/registry/config.yml"
  wait_for "the registry on $REGISTRY" 30 registry registry_ready
}

write_kubelet_config() {
  cat >"$RUN/kubelet-config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This host has cgroup v1; from 1.35 the kubelet refuses it unless told not to.
failCgroupV1: false
# containerd 1.6 has no RuntimeConfig RPC, so the kubelet uses this driver.
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
failSwapOn: false
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet-server.crt
tlsPrivateKeyFile: $PKI/kubelet-server.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization:
  mode: Webhook
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
podLogsDir: $RUN/pod-logs
# A disposable node on a shared disk: never evict for disk pressure, never
# garbage-collect images (a test should not wait for a pull it already paid).
imageGCHighThresholdPercent: 100
evictionHard: {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"}
maxPods: 110
YAML
}

apiserver_args() {
  printf '%s\n' \
    --etcd-servers="$ETCD_CLIENT_URL" \
    --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port="$APISERVER_PORT" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction \
    --allow-privileged=true \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" \
    --kubelet-preferred-address-types=InternalIP \
    --profiling=false \
    --event-ttl=30m
}

kcm_args() {
  printf '%s\n' \
    --kubeconfig="$PKI/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$PKI/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$PKI/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 \
    --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/sa.key" \
    --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --cluster-name=kscan-testbed \
    --profiling=false
}

scheduler_args() {
  printf '%s\n' \
    --kubeconfig="$PKI/scheduler.kubeconfig" \
    --authentication-kubeconfig="$PKI/scheduler.kubeconfig" \
    --authorization-kubeconfig="$PKI/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 \
    --leader-elect=false \
    --profiling=false
}

kubelet_args() {
  printf '%s\n' \
    --config="$RUN/kubelet-config.yaml" \
    --kubeconfig="$PKI/kubelet.kubeconfig" \
    --hostname-override="$NODE_NAME" \
    --node-ip="$NODE_IP" \
    --root-dir="$RUN/kubelet" \
    --cert-dir="$PKI"
}
