// kscanScan: scan running Kubernetes containers with kscan, record the JUnit
// report, archive HDF/SARIF/Markdown, and set the build result from kscan's
// exit code. Options are documented in kscanScan.txt.
//
// Option values never become shell text: the argument vector is passed to
// `sh` through environment variables (KSCAN_ARGC, KSCAN_ARG_0 ...), and the
// shell script itself is constant.

import groovy.transform.Field

@Field static final List<String> OPTIONS = [
    'namespace', 'pod', 'selector', 'container', 'strategy', 'engine', 'profile',
    'threshold', 'formats', 'timeout', 'kubeconfig', 'outDir', 'onGateFailure', 'kscan',
]

@Field static final String RUN_ARGV = 'set -- ; i=0; while [ "$i" -lt "$KSCAN_ARGC" ]; do eval "a=\\${KSCAN_ARG_$i}"; set -- "$@" "$a"; i=$((i+1)); done; exec "$@"'

/** The argument vector of `kscan scan` for these options. */
List<String> scanArgv(Map opts) {
    List<String> argv = [opts.kscan ?: 'kscan', 'scan', '--namespace', opts.namespace as String,
                         '--out-dir', outDir(opts)]
    [pod: '--pod', selector: '--selector', container: '--container', strategy: '--strategy',
     engine: '--engine', profile: '--profile', timeout: '--timeout', kubeconfig: '--kubeconfig'].each { key, flag ->
        if (opts[key]) {
            argv << flag << (opts[key] as String)
        }
    }
    return argv
}

/** The argument vector of `kscan report` for these options and HDF files. */
List<String> reportArgv(Map opts, List<String> hdf) {
    List<String> argv = [opts.kscan ?: 'kscan', 'report', '--ci', 'jenkins', '--out-dir', outDir(opts)]
    if (opts.threshold) {
        argv << '--threshold' << (opts.threshold as String)
    }
    if (opts.formats) {
        argv << '--format' << (opts.formats as String)
    }
    return argv + hdf
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

/**
 * Scan, report and set the build result. Returns [exitCode: N, verdict: '...'].
 * Exit codes: 0 passed, 1 gate failed (FAILURE, or UNSTABLE with
 * onGateFailure: 'UNSTABLE'), 2 bad input, 3 could not scan, 4 teardown left
 * objects: 2, 3 and 4 always fail the build.
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

    int scanCode = run(scanArgv(opts))
    if (scanCode != 0 && scanCode != 4) {
        archiveArtifacts(artifacts: "${dir}/**", allowEmptyArchive: true)
        error("kscan scan exited ${scanCode} (2: bad input, 3: could not scan); see the log above")
    }
    List<String> hdf = findFiles(glob: "${dir}/*.hdf.json").collect { it.path as String }.sort()
    if (!hdf) {
        error("kscan scan wrote no results into ${dir}")
    }
    int reportCode = run(reportArgv(opts, hdf))
    if (reportCode == 0 || reportCode == 1) {
        junit(testResults: "${dir}/kscan-junit.xml", allowEmptyResults: false)
    }
    archiveArtifacts(artifacts: "${dir}/**", allowEmptyArchive: true)

    if (scanCode == 4) {
        error('kscan: the scan left objects behind in the cluster (exit 4): run kscan cleanup')
    }
    switch (reportCode) {
        case 0:
            return [exitCode: 0, verdict: opts.threshold ? 'passed' : 'not-gated']
        case 1:
            if (onGate == 'UNSTABLE') {
                unstable('kscan: the gate failed (exit 1)')
                return [exitCode: 1, verdict: 'failed']
            }
            error('kscan: the gate failed (exit 1)')
            break
        default:
            error("kscan report exited ${reportCode} (2: bad input); see the log above")
    }
    return [exitCode: reportCode, verdict: 'failed']
}
