# The testbed's container images, written as OCI image tarballs by hand (no
# Docker engine, no registry) and imported into containerd's k8s.io namespace.
# Layers are reproducible (sorted, mtime 0, numeric owners), so an unchanged
# input gives the same digest and is not imported twice.

IMAGES_DIR="$TB_CACHE/images"
KEEP_RUNNING=(/bin/sh -c 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done')

# os_release DIR ID NAME
os_release() {
  cat >"$1/etc/os-release" <<OS
NAME="$3"
ID=$2
VERSION_ID=1
PRETTY_NAME="$3 1"
HOME_URL="https://example.invalid/kscan"
OS
  chmod 0644 "$1/etc/os-release"
}

# base_rootfs DIR: the directories every image has.
base_rootfs() {
  local root=$1
  mkdir -p "$root"/{etc,proc,sys,dev,root,tmp,var/tmp}
  chmod 0755 "$root" "$root/etc" "$root/var"
  chmod 0700 "$root/root"
  chmod 1777 "$root/tmp" "$root/var/tmp"
}

# add_busybox DIR: Debian's static busybox with a link for every applet.
add_busybox() {
  local root=$1 applet
  mkdir -p "$root/bin"
  install -m 0755 /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list-full); do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -sf /bin/busybox "$root/$applet"
  done
}

# add_users DIR: root, nobody and the distroless-style nonroot (65532).
add_users() {
  local root=$1
  cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
  cat >"$root/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
GROUP
  cat >"$root/etc/shadow" <<'SHADOW'
root:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
nonroot:*:19000:0:99999:7:::
SHADOW
  chmod 0644 "$root/etc/passwd" "$root/etc/group"
  chmod 0640 "$root/etc/shadow"
}

# oci_image NAME ROOTFS CONFIG_JSON: writes $IMAGES_DIR/<file>.tar and prints
# its path. CONFIG_JSON is the image config's "config" object.
oci_image() {
  local name=$1 rootfs=$2 config=$3
  local out="$IMAGES_DIR/$(printf '%s' "$name" | tr '/:' '__').tar"
  local oci; oci="$(mktemp -d "$IMAGES_DIR/oci.XXXXXX")"
  mkdir -p "$oci/blobs/sha256"
  tar --format=gnu --sort=name --mtime=@0 --numeric-owner -C "$rootfs" -cf "$oci/layer" .
  local layer; layer=$(sha256sum "$oci/layer" | cut -c1-64)
  mv "$oci/layer" "$oci/blobs/sha256/$layer"
  jq -cn --argjson config "$config" --arg layer "sha256:$layer" '{
      created: "1970-01-01T00:00:00Z", architecture: "amd64", os: "linux",
      config: $config, rootfs: {type: "layers", diff_ids: [$layer]},
      history: [{created: "1970-01-01T00:00:00Z", created_by: "kscan testbed image builder"}]
    }' >"$oci/config"
  local cfg; cfg=$(sha256sum "$oci/config" | cut -c1-64)
  jq -cn --arg cfg "sha256:$cfg" --argjson cfgsize "$(stat -c %s "$oci/config")" \
         --arg layer "sha256:$layer" --argjson layersize "$(stat -c %s "$oci/blobs/sha256/$layer")" '{
      schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cfg, size: $cfgsize},
      layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $layer, size: $layersize}]
    }' >"$oci/manifest"
  mv "$oci/config" "$oci/blobs/sha256/$cfg"
  local manifest; manifest=$(sha256sum "$oci/manifest" | cut -c1-64)
  local msize; msize=$(stat -c %s "$oci/manifest")
  mv "$oci/manifest" "$oci/blobs/sha256/$manifest"
  jq -cn --arg m "sha256:$manifest" --argjson size "$msize" --arg name "$name" '{
      schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $size,
                   platform: {architecture: "amd64", os: "linux"},
                   annotations: {"io.containerd.image.name": $name,
                                 "org.opencontainers.image.ref.name": ($name | split(":") | last)}}]
    }' >"$oci/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
  tar --format=gnu --sort=name --mtime=@0 --numeric-owner -C "$oci" -cf "$out" oci-layout index.json blobs
  rm -rf "$oci"
  printf '%s sha256:%s\n' "$out" "$manifest"
}

# import_image NAME ROOTFS CONFIG_JSON: build, then import unless containerd
# already has this exact manifest under NAME.
import_image() {
  local name=$1 built tar digest current
  built=$(oci_image "$@")
  tar=${built% *}; digest=${built#* }
  current=$("${CTR[@]}" images ls "name==$name" 2>/dev/null | awk 'NR > 1 { print $3 }')
  if [ "$current" = "$digest" ]; then
    log "image $name is current ($digest)"
    return 0
  fi
  "${CTR[@]}" images import "$tar" >/dev/null \
    || die "ctr could not import $tar as $name"
  log "image $name imported ($digest)"
}

cmd_json() { jq -cn '$ARGS.positional' --args -- "$@"; }

# The pause image named in containerd's sandbox_image: catatonit's pause mode.
image_pause() {
  local root=$1/pause
  base_rootfs "$root"
  install -m 0755 /usr/bin/catatonit "$root/catatonit"
  import_image "$PAUSE_IMAGE" "$root" '{"Entrypoint":["/catatonit","-P"]}'
}

# A conventional target: shell, coreutils (busybox), users, runs as root.
image_standard() {
  local root=$1/standard
  base_rootfs "$root"
  add_busybox "$root"
  add_users "$root"
  os_release "$root" kscan-standard "kscan standard target"
  import_image "$STANDARD_IMAGE" "$root" "$(jq -cn --argjson cmd "$(cmd_json "${KEEP_RUNNING[@]}")" \
    '{Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: $cmd, WorkingDir: "/"}')"
}

# A distroless target: one static binary (catatonit, pausing), no shell, and a
# planted file with a known owner, mode and content.
image_distroless() {
  local root=$1/distroless
  base_rootfs "$root"
  mkdir -p "$root/usr/local/bin"
  install -m 0755 /usr/bin/catatonit "$root/usr/local/bin/app"
  add_users "$root"
  rm -f "$root/etc/shadow"
  os_release "$root" kscan-distroless "kscan distroless target"
  printf 'kscan planted file: distroless target\n' >"$root/etc/kscan-planted"
  chown 1234:1234 "$root/etc/kscan-planted"
  chmod 0640 "$root/etc/kscan-planted"
  import_image "$DISTROLESS_IMAGE" "$root" '{"Entrypoint":["/usr/local/bin/app","-P"],"WorkingDir":"/"}'
}

# A target whose image config runs it as UID/GID 65532.
image_nonroot() {
  local root=$1/nonroot
  base_rootfs "$root"
  add_busybox "$root"
  add_users "$root"
  mkdir -p "$root/home/nonroot"
  chown 65532:65532 "$root/home/nonroot"
  chmod 0750 "$root/home/nonroot"
  os_release "$root" kscan-nonroot "kscan non-root target"
  import_image "$NONROOT_IMAGE" "$root" "$(jq -cn --argjson cmd "$(cmd_json "${KEEP_RUNNING[@]}")" \
    '{User: "65532:65532", Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Cmd: $cmd, WorkingDir: "/home/nonroot"}')"
}

# The agent, static (musl), built from this checkout.
scanner_binary() {
  local target=x86_64-unknown-linux-musl
  log "building kscan-agent (release, $target) for $SCANNER_IMAGE"
  (cd "$KSCAN_ROOT" && cargo build --quiet --release --locked --target "$target" -p kscan-agent) >&2 \
    || die "cargo could not build kscan-agent for $target (is the target installed? rustup target add $target)"
  printf '%s\n' "$CARGO_TARGET_DIR/$target/release/kscan-agent"
}

# The scanner: the agent and busybox.
image_scanner() {
  local root=$1/scanner bin
  bin=$(scanner_binary)
  base_rootfs "$root"
  add_busybox "$root"
  add_users "$root"
  mkdir -p "$root/usr/local/bin"
  install -m 0755 "$bin" "$root/usr/local/bin/kscan-agent"
  os_release "$root" kscan-scanner "kscan scanner"
  import_image "$SCANNER_IMAGE" "$root" "$(jq -cn --argjson cmd "$(cmd_json "${KEEP_RUNNING[@]}")" \
    '{Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: $cmd, WorkingDir: "/"}')"
}

# build_images [NAME...]: build and import the named images (default: all).
build_images() {
  mkdir -p "$IMAGES_DIR"
  local work; work="$(mktemp -d "$IMAGES_DIR/rootfs.XXXXXX")"
  local images=("$@") image
  [ ${#images[@]} -gt 0 ] || images=(pause standard distroless nonroot scanner)
  for image in "${images[@]}"; do
    "image_$image" "$work" || { rm -rf "$work"; return 1; }
  done
  rm -rf "$work"
}
