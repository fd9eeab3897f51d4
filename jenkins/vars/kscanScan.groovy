// kscanScan: one `kscan scan --ci jenkins` (scan, gate, JUnit, Markdown,
// SARIF, run manifest), then the JUnit report recorded, the results
// directory archived, the SARIF optionally recorded with warnings-ng, and
// the build result set from kscan's exit code. Options are documented in
// kscanScan.txt.
//
// Option values never become shell text: the argument vector is passed to
// `sh` through environment variables (KSCAN_ARGC, KSCAN_ARG_0 ...), and the
// shell script itself is constant.

import groovy.transform.Field

@Field static final List<String> OPTIONS = [
    'namespace', 'pod', 'selector', 'container', 'strategy', 'engine', 'profile', 'scannerImage',
    'manifests', 'threshold', 'formats', 'timeout', 'kubeconfig', 'context', 'outDir', 'onGateFailure', 'recordIssues', 'kscan',
    'version', 'releasesUrl',
]

/** This library's own kscan release, installed unless told otherwise (set by scripts/release/stamp-wrappers). */
@Field static final String VERSION = 'v0.1.0'

@Field static final String RELEASES_URL = 'https://github.com/kscan/kscan/releases'

@Field static final String RUN_ARGV = 'set -- ; i=0; while [ "$i" -lt "$KSCAN_ARGC" ]; do eval "a=\\${KSCAN_ARG_$i}"; set -- "$@" "$a"; i=$((i+1)); done; exec "$@"'

/** The argument vector of `kscan scan --ci jenkins` for these options. */
List<String> scanArgv(Map opts) {
    List<String> argv = [opts.kscan ?: 'kscan', 'scan', '--ci', 'jenkins', '--namespace', opts.namespace as String,
                         '--out-dir', outDir(opts)]
    [pod: '--pod', selector: '--selector', container: '--container', strategy: '--strategy',
     engine: '--engine', profile: '--profile', scannerImage: '--scanner-image', manifests: '--manifests',
     threshold: '--threshold',
     formats: '--format', timeout: '--timeout', kubeconfig: '--kubeconfig', context: '--context'].each { key, flag ->
        if (opts[key]) {
            argv << flag << (opts[key] as String)
        }
    }
    return argv
}

String outDir(Map opts) {
    return (opts.outDir ?: 'kscan-results') as String
}

/** Run `argv` without a shell parsing any of it; returns the exit code. */
int run(List<String> argv) {
    List<String> env = ["KSCAN_ARGC=${argv.size()}".toString()]
    argv.eachWithIndex { a, i -> env << "KSCAN_ARG_${i}=${a}".toString() }
    int code = 0
    withEnv(env) {
        code = sh(script: RUN_ARGV, returnStatus: true) as int
    }
    return code
}

/** Install kscan `version` from `releasesUrl` into the workspace; returns its path. */
String install(String version, String releasesUrl) {
    String bin = '.kscan-bin'
    int code = 0
    withEnv(["KSCAN_VERSION=${version}".toString(), "KSCAN_RELEASES_URL=${releasesUrl}".toString(), "KSCAN_BIN_DIR=${bin}".toString()]) {
        code = sh(script: libraryResource('kscan/install.sh'), returnStatus: true) as int
    }
    if (code != 0) {
        error("kscanScan: installing kscan ${version} failed (exit ${code}); see the log above")
    }
    return "${bin}/${version}/kscan".toString()
}

/**
 * Scan, gate, report and set the build result. Returns [exitCode: N, verdict: '...'].
 * Exit codes: 0 passed, 1 gate failed (FAILURE, or UNSTABLE with
 * onGateFailure: 'UNSTABLE'), 2 bad input, 3 could not scan, 4 teardown left
 * objects: 2, 3 and 4 always fail the build; 0, 1 and 4 record the reports.
 */
Map call(Map opts = [:]) {
    List<String> unknown = (opts.keySet() as List<String>) - OPTIONS
    if (unknown) {
        error("kscanScan: unknown option(s) ${unknown.sort().join(', ')}; known: ${OPTIONS.join(', ')}")
    }
    if (!opts.namespace) {
        error('kscanScan: the namespace option is required, e.g. kscanScan(namespace: "shop", pod: "web-0")')
    }
    String onGate = (opts.onGateFailure ?: 'FAILURE') as String
    if (!(onGate in ['FAILURE', 'UNSTABLE'])) {
        error("kscanScan: onGateFailure must be FAILURE or UNSTABLE, not ${onGate}")
    }
    String dir = outDir(opts)
    Map scan = opts
    if (!opts.kscan && opts.version != 'path') {
        scan = opts + [kscan: install((opts.version ?: VERSION) as String, (opts.releasesUrl ?: RELEASES_URL) as String)]
    }

    int code = run(scanArgv(scan))
    if (code in [0, 1, 4]) {
        // The gate decides the build result, not the count of failed controls.
        junit(testResults: "${dir}/kscan-junit.xml", allowEmptyResults: false, skipMarkingBuildUnstable: true)
        if (opts.recordIssues) {
            recordIssues(tools: [sarif(pattern: "${dir}/kscan.sarif", id: 'kscan', name: 'kscan')])
        }
    }
    archiveArtifacts(artifacts: "${dir}/**", allowEmptyArchive: true)
    switch (code) {
        case 0:
            return [exitCode: 0, verdict: opts.threshold ? 'passed' : 'not-gated']
        case 1:
            if (onGate == 'UNSTABLE') {
                unstable('kscan: the gate failed (exit 1)')
                return [exitCode: 1, verdict: 'failed']
            }
            error('kscan: the gate failed (exit 1)')
            break
        case 4:
            error('kscan: the scan left objects behind in the cluster (exit 4): see the log for the kscan cleanup command')
            break
        default:
            error("kscan scan exited ${code} (2: bad input, 3: could not scan); see the log above")
    }
    return [exitCode: code, verdict: 'failed']
}
