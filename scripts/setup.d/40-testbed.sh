# The testbed's Debian packages (tests/testbed/README.md): containerd, runc
# and the CNI plugins that run the pods; catatonit (the pause image and the
# distroless targets' program) and busybox-static (the busybox targets);
# docker-registry and skopeo (the loopback registry the node pulls from, and
# the client that pushes to it); mmdebstrap (the Debian targets); umoci and
# binutils' objcopy (the image of this checkout's kscan that the shards of
# scans as Jobs run in tests/dispatch.rs, tests/serve.rs and
# scripts/test.d/helm.sh); and the tools the scripts use. `testbed up` runs this step too, so it alone
# prepares a fresh machine.
source "$(dirname "$0")/../lib.sh"

apt_install containerd runc containernetworking-plugins catatonit busybox-static \
  docker-registry skopeo mmdebstrap umoci binutils \
  iproute2 iptables openssl curl jq
# Debian's docker-registry package starts a system registry on :5000 where
# an init system runs; the testbed runs its own, on its own port.
missing=()
for tool in containerd ctr runc containerd-shim-runc-v2 docker-registry skopeo mmdebstrap umoci objcopy \
  catatonit busybox dpkg-deb apt-get jq curl openssl ip; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] || die "not on PATH after installing the testbed's Debian packages: ${missing[*]}"
for plugin in bridge host-local loopback; do
  [ -x "/usr/lib/cni/$plugin" ] || die "CNI plugin /usr/lib/cni/$plugin missing (Debian package containernetworking-plugins)"
done
