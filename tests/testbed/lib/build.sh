# Builds the multi-call Kubernetes binary (cmd/k8s) from the pinned Go module.
# Go's own module and build caches (~/go/pkg/mod, ~/.cache/go-build) make a
# rebuild incremental; the linked binary is cached under $TB_BIN_DIR keyed on
# the pinned version and a hash of the module's files, so a warm `up` links
# nothing at all.

# Hash of everything that decides the binary's content.
k8s_source_key() {
  (cd "$TESTBED_DIR" && cat go.mod go.sum cmd/k8s/*.go lib/build.sh) | sha256sum | cut -c1-12
}

# Prints the path of the built binary, building it first if needed.
k8s_binary() {
  local dir="$TB_BIN_DIR/$KUBE_VERSION-$(k8s_source_key)"
  local bin="$dir/k8s"
  if [ ! -x "$bin" ]; then
    command -v go >/dev/null || die "go not found: the testbed builds Kubernetes $KUBE_VERSION from source and needs Go 1.26+"
    mkdir -p "$dir"
    local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
    local ldflags="-s -w" pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
      ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    log "building Kubernetes $KUBE_VERSION (kube-apiserver, kubelet, kube-controller-manager, kube-scheduler, kubectl, etcd) into $dir"
    log "  a cold build takes tens of minutes on 2 cores; output in $TB_CACHE/build.log"
    local start=$SECONDS
    if ! (cd "$TESTBED_DIR" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly \
          go build -trimpath -tags providerless -ldflags "$ldflags" -o "$bin.tmp" ./cmd/k8s) \
          >"$TB_CACHE/build.log" 2>&1; then
      tail -n 30 "$TB_CACHE/build.log" >&2
      die "building Kubernetes $KUBE_VERSION failed (full log: $TB_CACHE/build.log)"
    fi
    mv "$bin.tmp" "$bin"
    log "  built in $((SECONDS - start))s"
  fi
  # Links under the upstream names, so logs and `ps` read naturally.
  local name
  for name in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl etcd; do
    [ -L "$dir/$name" ] || ln -sf k8s "$dir/$name"
  done
  printf '%s\n' "$bin"
}
