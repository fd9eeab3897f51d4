# The Jenkins shared library's JenkinsPipelineUnit tests (jenkins/pom.xml),
# with Maven's repository under $KSCAN_CACHE. JenkinsPipelineUnit 1.1 is the
# newest release on Maven Central (later ones, 1.29 the newest, are only on
# the Jenkins repository).
source "$(dirname "$0")/../lib.sh"
command -v mvn >/dev/null || die "mvn not found: install Maven and Java 17 (apt-get install maven openjdk-17-jdk-headless)"
# The real kscan, for the exit codes it gives the step (cargo test built it).
export KSCAN_BIN="$CARGO_TARGET_DIR/debug/kscan"
[ -x "$KSCAN_BIN" ] || (cd "$KSCAN_ROOT" && cargo build --locked -q)
cd "$KSCAN_ROOT/jenkins"
mvn -B -q -Dmaven.repo.local="$KSCAN_CACHE/m2" test
log "jenkins: $(grep -ho 'Tests run: [0-9]*, Failures: [0-9]*, Errors: [0-9]*' target/surefire-reports/*.txt)"
