# gitlab-ci-local (npm), a GitLab CI runner, for the component's tests
# (tests/ci.rs, `gitlab_ci_local`), pinned, into $KSCAN_CACHE and linked into
# $KSCAN_BIN; it copies the project with rsync. 4.62.0 runs on Node 20 with
# --force-shell-executor (4.75 needs a newer Node, 4.55 has no forced shell
# executor).
source "$(dirname "$0")/../lib.sh"

GCL_VERSION=4.62.0
apt_install rsync
dir="$KSCAN_CACHE/gitlab-ci-local-$GCL_VERSION"
if [ ! -x "$dir/node_modules/.bin/gitlab-ci-local" ]; then
  command -v npm >/dev/null || die "npm not found: install Node.js 20 and npm"
  log "npm: installing gitlab-ci-local@$GCL_VERSION"
  mkdir -p "$dir"
  (cd "$dir" && npm install --silent --no-audit --no-fund "gitlab-ci-local@$GCL_VERSION")
fi
ln -sf "$dir/node_modules/.bin/gitlab-ci-local" "$KSCAN_BIN/gitlab-ci-local"
"$KSCAN_BIN/gitlab-ci-local" --version | grep -qx "$GCL_VERSION" || die "gitlab-ci-local does not run from $dir"
