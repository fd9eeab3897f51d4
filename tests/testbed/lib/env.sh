# The testbed's fixed facts: versions, addresses, ports and paths. Sourced by
# `testbed` after scripts/lib.sh (which sets KSCAN_CACHE, log, die, apt_install).

# The pinned release. Changing it: run `pin.sh vX.Y.Z` (rewrites go.mod/go.sum)
# and set this to the same version; built binaries are cached per version.
KUBE_VERSION=v1.37.2

TESTBED_DIR="$KSCAN_ROOT/tests/testbed"
TB_CACHE="$KSCAN_CACHE/testbed"
# Built binaries, keyed by the pinned version and the Go module's hash.
TB_BIN_DIR="$TB_CACHE/bin"
# Everything a running testbed owns: state, logs, PIDs, certificates. `down`
# removes this directory.
RUN="$TB_CACHE/run"
LOGS="$RUN/logs"
PIDS="$RUN/pids"
PKI="$RUN/pki"
ADMIN_KUBECONFIG="$RUN/admin.kubeconfig"

# Addresses. The node's IP lives on the pod bridge itself (this kernel has no
# dummy interface type). 198.18.0.0/15 is the range reserved for network
# benchmarking (RFC 2544): it never routes off the machine and clashes with
# no private network. Pods get 198.18.0.10+, Services 198.18.1.0/24.
NODE_NAME=kscan-testbed
NODE_IP=198.18.0.1
BRIDGE=kscantb0
POD_SUBNET=198.18.0.0/24
POD_RANGE_START=198.18.0.10
SERVICE_CIDR=198.18.1.0/24
SERVICE_IP=198.18.1.1  # the `kubernetes` Service: first address of SERVICE_CIDR

# Ports (API server on the node IP; everything else on loopback).
APISERVER_PORT=16443
APISERVER_URL="https://$NODE_IP:$APISERVER_PORT"
ETCD_CLIENT_URL=http://127.0.0.1:12379
ETCD_PEER_URL=http://127.0.0.1:12380
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248

CONTAINERD_SOCK="$RUN/containerd/containerd.sock"
CNI_BIN_DIR=/usr/lib/cni
# The OCI runtime containerd's shim runs (an absolute path).
OCI_RUNTIME="${TESTBED_OCI_RUNTIME:-/usr/sbin/runc}"
CTR=(ctr --address "$CONTAINERD_SOCK" --namespace k8s.io)

# The image registry (Debian's docker-registry) on loopback, plain HTTP;
# containerd pulls from it. Its storage outlives `down`, so a warm `up`
# pushes no blob twice.
REGISTRY_PORT=15000
REGISTRY=127.0.0.1:$REGISTRY_PORT
REGISTRY_STORAGE="$TB_CACHE/registry"
# containerd's sandbox_image, pulled from the registry like the others.
PAUSE_TAG=1
PAUSE_IMAGE="$REGISTRY/kscan/pause:$PAUSE_TAG"
# The references `up` pushed, by digest: {"NAME": {"ref": ..., "rootfs": ...}}
# for the testbed (every image but a scanner) and for this checkout (those
# and the scanner built from it). Tests and scripts read this checkout's.
IMAGE_REFS="$RUN/images.json"
CHECKOUT_IMAGE_REFS="${KSCAN_TESTBED_IMAGES:-$KSCAN_ROOT/target/testbed-images.json}"
CHECKOUT_KEY=$(printf '%s' "$KSCAN_ROOT" | sha256sum | cut -c1-12)

# image_ref NAME: the reference of one of the testbed's images for this
# checkout (standard, distroless, nonroot, debian-standard,
# debian-distroless, scanner, pause).
image_ref() {
  [ -f "$CHECKOUT_IMAGE_REFS" ] || die "no image references at $CHECKOUT_IMAGE_REFS: run \`tests/testbed/testbed up\` from this checkout"
  jq -er --arg n "$1" '.[$n].ref // empty' "$CHECKOUT_IMAGE_REFS" \
    || die "no '$1' image in $CHECKOUT_IMAGE_REFS: run \`tests/testbed/testbed up\` (or \`testbed images $1\`) from this checkout"
}

# A namespace `up` creates for tests.
TEST_NAMESPACE=kscan-test

# The components `up` starts, in order (`down` stops them in reverse).
COMPONENTS=(registry containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet)
