# The testbed's container images: built as OCI image layouts, pushed with
# skopeo to the testbed's registry on loopback ($REGISTRY), and pulled from
# there by containerd as any cluster pulls images. Layers are reproducible
# (sorted, fixed mtime, numeric owners), so an unchanged input gives the
# same digest and pushes no new blob.
#
# Every build step fails the whole build: these functions run under `set -e`
# (never as the left side of || or &&, which would switch it off), and no
# image is pushed unless its build finished. The references pushed, by
# digest, go to $IMAGE_REFS (testbed-wide) and to this checkout's
# $CHECKOUT_IMAGE_REFS together with its own scanner image.

IMAGES_DIR="$TB_CACHE/images"
# Root filesystems built from Debian packages, one directory per input key.
ROOTFS_DIR="$TB_CACHE/rootfs"
KEEP_RUNNING=(/bin/sh -c 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done')
PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The agent's musl target on this machine's architecture.
AGENT_TARGET=x86_64-unknown-linux-musl

# What this build pushed: image name -> reference; and the root filesystem
# of the Debian targets (tests derive their expectations from it).
declare -A PUSHED=() ROOTFS_OF=()

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

# add_busybox DIR: Debian's static busybox with a link for every applet. The
# links are made once per build and copied (hundreds of `ln` processes cost
# seconds on a loaded machine).
add_busybox() {
  local root=$1 tree="$IMAGES_DIR/busybox-tree" applet
  if [ ! -f "$tree.done" ] || [ "$(cat "$tree.done")" != "$(sha256sum /bin/busybox | cut -c1-64)" ]; then
    rm -rf "$tree" "$tree.done"
    mkdir -p "$tree/bin" "$tree/sbin" "$tree/usr/bin" "$tree/usr/sbin"
    install -m 0755 /bin/busybox "$tree/bin/busybox"
    (
      cd "$tree" || exit 1
      for applet in $(/bin/busybox --list-full); do
        [ "$applet" = bin/busybox ] || ln -sf /bin/busybox "$applet"
      done
    )
    sha256sum /bin/busybox | cut -c1-64 >"$tree.done"
  fi
  cp -a "$tree/." "$root/"
}

# add_users DIR [ROOT_SHELL]: root, nobody and the distroless-style nonroot
# (65532); root's login shell is ROOT_SHELL (default /bin/sh).
add_users() {
  local root=$1 shell=${2:-/bin/sh}
  cat >"$root/etc/passwd" <<PASSWD
root:x:0:0:root:/root:$shell
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

# oci_layout TAG ROOTFS CONFIG_JSON DIR: writes an OCI image layout of ROOTFS
# (one uncompressed layer) into DIR, its manifest tagged TAG; prints the
# manifest's digest. CONFIG_JSON is the image config's "config" object.
oci_layout() {
  local tag=$1 rootfs=$2 config=$3 oci=$4
  rm -rf "$oci"
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
  jq -cn --arg m "sha256:$manifest" --argjson size "$msize" --arg tag "$tag" '{
      schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $size,
                   platform: {architecture: "amd64", os: "linux"},
                   annotations: {"org.opencontainers.image.ref.name": $tag}}]
    }' >"$oci/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
  printf 'sha256:%s\n' "$manifest"
}

# layout_digest DIR: the digest of the one image in an OCI layout.
layout_digest() { jq -er '.manifests[0].digest' "$1/index.json"; }

# push NAME LAYOUT TAG [LAYOUT_TAG]: pushes the layout's image (named
# LAYOUT_TAG there, default TAG) to $REGISTRY/kscan/NAME:TAG with skopeo and
# records NAME's reference by digest. The registry serves plain HTTP on
# loopback only, hence --dest-tls-verify=false.
push() {
  local name=$1 layout=$2 tag=$3 source_tag=${4:-$3} digest pushed ref
  digest=$(layout_digest "$layout")
  ref="$REGISTRY/kscan/$name:$tag"
  if ! skopeo copy --quiet --preserve-digests --dest-tls-verify=false --digestfile "$layout.digest" \
    "oci:$layout:$source_tag" "docker://$ref" >"$LOGS/push.log" 2>&1; then
    cat "$LOGS/push.log" >&2
    die "skopeo could not push $ref to the testbed registry (registry log: $LOGS/registry.log)"
  fi
  pushed=$(<"$layout.digest")
  [ "$pushed" = "$digest" ] || die "the registry holds $ref as $pushed, not the built $digest"
  PUSHED[$name]="$ref@$digest"
  log "image $ref@$digest"
}

# registry_digest NAME TAG: the digest the registry serves for NAME:TAG, if any.
registry_digest() {
  curl -fsS --max-time 10 -o /dev/null -I -w '%header{docker-content-digest}' \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.oci.image.index.v1+json' \
    "http://$REGISTRY/v2/kscan/$1/manifests/$2" 2>/dev/null || true
}

# publish NAME TAG ROOTFS CONFIG_JSON [KEY]: builds a layout of ROOTFS and
# pushes it. With KEY (the root filesystem's input key), a layout already
# built for the same key and config is reused, and a registry that already
# serves it is not pushed to again.
publish() {
  local name=$1 tag=$2 rootfs=$3 config=$4 layout="$IMAGES_DIR/layouts/$1" key=""
  [ -z "${5:-}" ] || key=$(printf '%s\n' "$5" "$tag" "$config" "$(declare -f oci_layout)" | sha256sum | cut -c1-16)
  if [ -z "$key" ] || [ "$(cat "$layout.key" 2>/dev/null)" != "$key" ] || [ ! -f "$layout/index.json" ]; then
    rm -f "$layout.key"
    oci_layout "$tag" "$rootfs" "$config" "$layout" >/dev/null
    [ -z "$key" ] || printf '%s\n' "$key" >"$layout.key"
  fi
  if [ -n "$key" ] && [ "$(registry_digest "$name" "$tag")" = "$(layout_digest "$layout")" ]; then
    PUSHED[$name]="$REGISTRY/kscan/$name:$tag@$(layout_digest "$layout")"
    log "image ${PUSHED[$name]} (in the registry)"
    return 0
  fi
  push "$name" "$layout" "$tag"
}

cmd_json() { jq -cn '$ARGS.positional' --args -- "$@"; }
keep_running_config() {
  jq -cn --argjson cmd "$(cmd_json "${KEEP_RUNNING[@]}")" --arg path "$PATH_ENV" --arg user "${1:-}" --arg dir "${2:-/}" \
    '{Env: [$path], Cmd: $cmd, WorkingDir: $dir} + (if $user == "" then {} else {User: $user} end)'
}

# The pause image named in containerd's sandbox_image: catatonit's pause mode.
# containerd pulls it from the registry like any image.
image_pause() {
  local root=$1/pause
  base_rootfs "$root"
  install -m 0755 /usr/bin/catatonit "$root/catatonit"
  publish pause "$PAUSE_TAG" "$root" '{"Entrypoint":["/catatonit","-P"]}'
}

# A conventional target: shell, coreutils (busybox), users, runs as root.
image_standard() {
  local root=$1/standard
  base_rootfs "$root"
  add_busybox "$root"
  add_users "$root"
  os_release "$root" kscan-standard "kscan standard target"
  publish standard 1 "$root" "$(keep_running_config)"
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
  publish distroless 1 "$root" '{"Entrypoint":["/usr/local/bin/app","-P"],"WorkingDir":"/"}'
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
  publish nonroot 1 "$root" "$(keep_running_config 65532:65532 /home/nonroot)"
}

# --- Targets from real Debian packages ----------------------------------------

# The host's Debian suite and archive: what apt on this machine is set up to
# use (never a hard-coded mirror), as one-line sources for the codename's
# suites (codename, -updates, -security).
debian_codename() {
  local codename
  codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || die "no VERSION_CODENAME in /etc/os-release: the Debian targets need a Debian host"
  printf '%s\n' "$codename"
}
debian_sources() {
  [ -z "${DEBIAN_SOURCES:-}" ] || { printf '%s\n' "$DEBIAN_SOURCES"; return 0; }
  local codename; codename=$(debian_codename)
  # shellcheck disable=SC2016 # apt's own $(FIELD) placeholders
  apt-get indextargets --format '$(TARGET_OF) $(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' \
    | awk -v c="$codename" '$1 == "deb" && ($3 == c || index($3, c "-") == 1)' | sort -u
}

# rootfs_key NAME INPUT...: a short hash of a builder's inputs and its own code.
rootfs_key() {
  local name=$1; shift
  { printf '%s\n' "$@"; declare -f "rootfs_$name" debian_sources; } | sha256sum | cut -c1-16
}

# cached_rootfs NAME INPUT...: prints the directory of NAME's root filesystem
# for these inputs, building it with rootfs_NAME DIR first when missing. A
# build that fails leaves nothing behind, so it is never taken for built.
cached_rootfs() {
  local name=$1; shift
  local dir; dir="$ROOTFS_DIR/$name-$(rootfs_key "$name" "$@")"
  if [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$dir.tmp"
    local start=$SECONDS
    log "building the $name root filesystem from Debian packages (cached in $dir)"
    "rootfs_$name" "$dir.tmp/root"
    touch "$dir.tmp/.complete"
    mv "$dir.tmp" "$dir"
    log "  built in $((SECONDS - start))s ($(du -sh "$dir/root" | cut -f1))"
    # Older builds of the same target are inputs that changed.
    find "$ROOTFS_DIR" -mindepth 1 -maxdepth 1 -name "$name-*" ! -name "$(basename "$dir")" -exec rm -rf {} +
  fi
  printf '%s\n' "$dir/root"
}

# The standard Debian target: `mmdebstrap --variant=minbase` of the host's
# suite from the host's archive: dash, bash, coreutils, util-linux, login
# with its setuid helpers, /etc/shadow as Debian ships it.
rootfs_debian_standard() {
  local root=$1 sources
  mapfile -t sources < <(debian_sources)
  [ ${#sources[@]} -gt 0 ] || die "apt on this host has no Debian sources for $(debian_codename) (apt-get indextargets shows none)"
  if ! SOURCE_DATE_EPOCH=0 mmdebstrap --quiet --variant=minbase --mode=root --format=directory \
    "$(debian_codename)" "$root" "${sources[@]}" >"$IMAGES_DIR/mmdebstrap.log" 2>&1; then
    tail -n 30 "$IMAGES_DIR/mmdebstrap.log" >&2
    die "mmdebstrap could not build the Debian standard target (log: $IMAGES_DIR/mmdebstrap.log)"
  fi
  # The runtime mounts /dev; device nodes do not belong in a layer.
  find "$root/dev" -mindepth 1 -delete
  os_release_check "$root"
}
os_release_check() { [ -s "$1/etc/os-release" ] || die "$1 has no /etc/os-release: the root filesystem is incomplete"; }

# The Debian packages of the distroless target, as distroless' base images
# take them (base-files, netbase, tzdata, ca-certificates, libc6), plus
# catatonit as its one static program.
DISTROLESS_DEBS=(base-files netbase tzdata ca-certificates libc6 catatonit)

# debian_versions PKG...: "name=version" as apt would download them now (one
# apt-cache run: each costs seconds on a loaded machine).
debian_versions() {
  local out
  out=$(apt-cache policy "$@" | awk '/^[^ ].*:$/ { p = substr($0, 1, length($0) - 1) }
    /^  Candidate:/ && $2 != "(none)" { print p "=" $2 }')
  local p
  for p in "$@"; do
    grep -q "^$p=" <<<"$out" || die "apt has no candidate for the Debian package $p (run apt-get update)"
  done
  printf '%s\n' "$out"
}

# The distroless Debian target, built the way distroless images are: each
# package's files unpacked with dpkg-deb -x (no maintainer scripts, no
# dpkg database, no shell), then the few files the scripts would have made:
# users (root, nobody, nonroot 65532; no login shell) in /etc/passwd and
# /etc/group without /etc/shadow, the CA bundle, /tmp and the nonroot home.
rootfs_debian_distroless() {
  local root=$1 debs="$1.debs" deb
  mkdir -p "$root" "$debs"
  # shellcheck disable=SC2086 # one name=version per word
  if ! (cd "$debs" && apt-get download -o APT::Sandbox::User=root $DISTROLESS_VERSIONS) \
    >"$IMAGES_DIR/apt-download.log" 2>&1; then
    cat "$IMAGES_DIR/apt-download.log" >&2
    die "apt-get download failed for the distroless target's packages: ${DISTROLESS_VERSIONS//$'\n'/ }"
  fi
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$root"; done
  rm -rf "$debs" "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/lintian"
  mkdir -p "$root/etc/ssl/certs" "$root/home/nonroot" "$root/tmp" "$root/usr/local/bin"
  find "$root/usr/share/ca-certificates" -name '*.crt' -print0 | sort -z | xargs -0 cat >"$root/etc/ssl/certs/ca-certificates.crt"
  mv "$root/usr/bin/catatonit" "$root/usr/local/bin/app"
  add_users "$root" /sbin/nologin
  rm -f "$root/etc/shadow"
  chmod 0644 "$root/etc/ssl/certs/ca-certificates.crt"
  chown 65532:65532 "$root/home/nonroot"
  chmod 0700 "$root/home/nonroot"
  chmod 1777 "$root/tmp"
  for sh in bin/sh bin/bash bin/dash usr/bin/sh usr/bin/bash; do
    [ ! -e "$root/$sh" ] || die "the distroless target has a shell ($sh): a package brought it"
  done
  os_release_check "$root"
}

# image_debian_NAME WORK: the Debian targets, from their cached root filesystems.
image_debian_standard() {
  DEBIAN_SOURCES=$(debian_sources)
  local root; root=$(cached_rootfs debian_standard "$(debian_codename)" minbase "$(debian_sources)")
  publish debian-standard 12 "$root" "$(keep_running_config)" "$root"
  ROOTFS_OF[debian-standard]=$root
}
image_debian_distroless() {
  local root
  DISTROLESS_VERSIONS=$(debian_versions "${DISTROLESS_DEBS[@]}")
  root=$(cached_rootfs debian_distroless "$DISTROLESS_VERSIONS")
  publish debian-distroless 12 "$root" '{"User":"65532:65532","Entrypoint":["/usr/local/bin/app","-P"],"WorkingDir":"/home/nonroot"}' "$root"
  ROOTFS_OF[debian-distroless]=$root
}

# --- The scanner ---------------------------------------------------------------

# The agent, static (musl), built from this checkout: prints its path.
agent_binary() {
  local bin="$CARGO_TARGET_DIR/$AGENT_TARGET/release/kscan-agent"
  (cd "$KSCAN_ROOT" && cargo metadata --locked --no-deps --format-version 1 2>/dev/null) \
    | jq -e '.packages[] | select(.name == "kscan-agent")' >/dev/null \
    || die "this checkout has no kscan-agent package: the scanner image holds that agent (cargo metadata lists no such workspace member)"
  rustup target list --installed 2>/dev/null | grep -qx "$AGENT_TARGET" \
    || die "the Rust target $AGENT_TARGET is not installed: run scripts/setup (or rustup target add $AGENT_TARGET)"
  log "building kscan-agent (release, $AGENT_TARGET) from $KSCAN_ROOT"
  local start=$SECONDS
  if ! (cd "$KSCAN_ROOT" && cargo build --quiet --release --locked -p kscan-agent --target "$AGENT_TARGET") \
    >"$IMAGES_DIR/agent-build.log" 2>&1; then
    tail -n 40 "$IMAGES_DIR/agent-build.log" >&2
    die "cargo could not build kscan-agent for $AGENT_TARGET (log: $IMAGES_DIR/agent-build.log); no scanner image was pushed"
  fi
  [ -x "$bin" ] || die "cargo built kscan-agent, but $bin is missing"
  log "  kscan-agent built in $((SECONDS - start))s"
  printf '%s\n' "$bin"
}

# The scanner: scripts/scanner-image over this checkout's agent, tagged with
# the image's own digest so that checkouts sharing the testbed never
# overwrite each other's scanner.
image_scanner() {
  local bin layout="$IMAGES_DIR/layouts/scanner-$CHECKOUT_KEY" digest tag
  bin=$(agent_binary)
  digest=$("$KSCAN_ROOT/scripts/scanner-image" --agent "amd64=$bin" --out "$layout" --tag build)
  tag="dev-${digest#sha256:}"; tag=${tag:0:16}
  push scanner "$layout" "$tag" build
}

# --- Building and recording ----------------------------------------------------

# write_refs: merges what was pushed into $IMAGE_REFS (every image but the
# scanner) and writes this checkout's $CHECKOUT_IMAGE_REFS (those and its
# scanner), each as {"NAME": {"ref": ..., "rootfs": ...}}.
write_refs() {
  local name new='{}' shared='{}' mine='{}'
  for name in "${!PUSHED[@]}"; do
    new=$(jq -c --arg n "$name" --arg r "${PUSHED[$name]}" --arg fs "${ROOTFS_OF[$name]:-}" \
      '.[$n] = ({ref: $r} + (if $fs == "" then {} else {rootfs: $fs} end))' <<<"$new")
  done
  [ -f "$IMAGE_REFS" ] && shared=$(<"$IMAGE_REFS")
  [ -f "$CHECKOUT_IMAGE_REFS" ] && mine=$(<"$CHECKOUT_IMAGE_REFS")
  shared=$(jq -cS --argjson new "$new" '. + ($new | del(.scanner))' <<<"$shared")
  mine=$(jq -S --argjson shared "$shared" --argjson new "$new" '{scanner: .scanner} + $shared + $new | with_entries(select(.value != null))' <<<"$mine")
  mkdir -p "$(dirname "$IMAGE_REFS")" "$(dirname "$CHECKOUT_IMAGE_REFS")"
  printf '%s\n' "$shared" >"$IMAGE_REFS.tmp" && mv "$IMAGE_REFS.tmp" "$IMAGE_REFS"
  printf '%s\n' "$mine" >"$CHECKOUT_IMAGE_REFS.tmp" && mv "$CHECKOUT_IMAGE_REFS.tmp" "$CHECKOUT_IMAGE_REFS"
}

ALL_IMAGES=(pause standard distroless nonroot debian-standard debian-distroless scanner)

# build_images [NAME...]: build and push the named images (default: all but
# the scanner), then record their references. Stops at the first failure.
build_images() {
  local images=("$@") image work
  [ ${#images[@]} -gt 0 ] || images=("${ALL_IMAGES[@]:0:${#ALL_IMAGES[@]}-1}")
  for image in "${images[@]}"; do
    [[ " ${ALL_IMAGES[*]} " == *" $image "* ]] || die "no image named '$image' (images: ${ALL_IMAGES[*]})"
  done
  mkdir -p "$IMAGES_DIR/layouts" "$ROOTFS_DIR" "$LOGS"
  # Scratch space of earlier builds (the lock serialises builds).
  rm -rf "$IMAGES_DIR"/rootfs.*
  work="$(mktemp -d "$IMAGES_DIR/rootfs.XXXXXX")"
  for image in "${images[@]}"; do
    "image_${image//-/_}" "$work"
  done
  rm -rf "$work"
  write_refs
}
