package kscan

import com.lesfurets.jenkins.unit.BasePipelineTest
import java.nio.file.Files
import java.nio.file.Path
import org.junit.After
import org.junit.Before
import org.junit.Test

/**
 * vars/kscanScan.groovy under JenkinsPipelineUnit. `sh` really runs the
 * step's script with /bin/sh and the environment `withEnv` gave it; the
 * program in place of kscan records its argv and exits with the code each
 * test asks for, so the argv, the quoting and the exit-code mapping are all
 * observed, not assumed.
 */
/** What the `error` step throws. */
class StepError extends RuntimeException {
    StepError(String message) { super(message) }
}

class KscanScanTest extends BasePipelineTest {
    Path work
    Path program
    List<String> env = []
    List<Map> junitCalls = []
    List<Map> archived = []
    List<Map> issues = []
    List<String> scripts = []
    Map<String, Integer> codes = [:]
    def step

    @Before
    void setUp() throws Exception {
        super.setUp()
        work = Files.createTempDirectory('kscan-jenkins')
        program = work.resolve('fake-kscan')
        // Records its arguments (NUL-separated) per subcommand; scan writes the
        // JUnit file unless it could not scan (2, 3), and exits $SCAN_CODE.
        program.text = '''#!/bin/sh
out=kscan-results
prev=
for a; do [ "$prev" = --out-dir ] && out="$a"; prev="$a"; done
for a; do printf '%s\\0' "$a"; done > "argv.$1"
case "$SCAN_CODE" in
  0|1|4) mkdir -p "$out" && echo '<?xml version="1.0"?><testsuites/>' > "$out/kscan-junit.xml" ;;
esac
exit "$SCAN_CODE"
'''
        program.toFile().setExecutable(true)
        binding.setVariable('currentBuild', [result: null])
        helper.registerAllowedMethod('withEnv', [List, Closure], { List e, Closure body ->
            env = e
            try { body.call() } finally { env = [] }
        })
        helper.registerAllowedMethod('sh', [Map], { Map m ->
            scripts << (m.script as String)
            def pb = new ProcessBuilder('/bin/sh', '-c', m.script as String).directory(work.toFile()).redirectErrorStream(true)
            pb.environment().clear()
            pb.environment().putAll([PATH: '/usr/bin:/bin', SCAN_CODE: "${codes.scan ?: 0}".toString()])
            env.each { String kv -> def i = kv.indexOf('='); pb.environment().put(kv.substring(0, i), kv.substring(i + 1)) }
            def p = pb.start()
            p.inputStream.text
            return p.waitFor()
        })
        helper.registerAllowedMethod('libraryResource', [String], { String name ->
            return new File("resources/${name}").text
        })
        helper.registerAllowedMethod('junit', [Map], { Map m -> junitCalls << m })
        helper.registerAllowedMethod('archiveArtifacts', [Map], { Map m -> archived << m })
        helper.registerAllowedMethod('sarif', [Map], { Map m -> m })
        helper.registerAllowedMethod('recordIssues', [Map], { Map m -> issues << m })
        helper.registerAllowedMethod('error', [String], { String msg ->
            binding.getVariable('currentBuild').result = 'FAILURE'
            throw new StepError(msg)
        })
        helper.registerAllowedMethod('unstable', [String], { String msg ->
            binding.getVariable('currentBuild').result = 'UNSTABLE'
        })
        step = loadScript('vars/kscanScan.groovy')
    }

    @After
    void cleanUp() {
        work.toFile().deleteDir()
    }

    List<String> argv(String sub) {
        def f = work.resolve("argv.${sub}")
        return Files.exists(f) ? (f.text.split('\u0000') as List<String>) : null
    }

    String result() {
        return binding.getVariable('currentBuild').result
    }

    /** Run the step; returns its value, or the error's message. */
    def runStep(Map opts) {
        try {
            return step.call([kscan: program.toString()] + opts)
        } catch (StepError e) {
            return e.message
        }
    }

    @Test
    void argvForEachOptionCombination() {
        assert step.scanArgv([namespace: 'shop', pod: 'web-0']) ==
            ['kscan', 'scan', '--ci', 'jenkins', '--namespace', 'shop', '--out-dir', 'kscan-results', '--pod', 'web-0']
        assert step.scanArgv([namespace: 'shop', selector: 'app=web', container: 'app', strategy: 'debug',
                              engine: 'cinc', profile: 'profiles/base', scannerImage: 'reg/scanner@sha256:ab',
                              manifests: 'deploy', threshold: 't.yml', formats: 'sarif', timeout: '5m', kubeconfig: '/k/config',
                              context: 'agent:ctx', outDir: 'out', kscan: '/opt/kscan']) ==
            ['/opt/kscan', 'scan', '--ci', 'jenkins', '--namespace', 'shop', '--out-dir', 'out', '--selector', 'app=web',
             '--container', 'app', '--strategy', 'debug', '--engine', 'cinc', '--profile', 'profiles/base',
             '--scanner-image', 'reg/scanner@sha256:ab', '--manifests', 'deploy', '--threshold', 't.yml', '--format', 'sarif',
             '--timeout', '5m', '--kubeconfig', '/k/config', '--context', 'agent:ctx']
    }

    @Test
    void hostileValuesReachKscanAsOneArgumentEachAndNeverAsShell() {
        def ns = 'shop; touch pwned-1'
        def pod = '$(touch pwned-2) `touch pwned-3` "q\' x'
        def out = runStep([namespace: ns, pod: pod])
        assert out == [exitCode: 0, verdict: 'not-gated']
        assert argv('scan') == ['scan', '--ci', 'jenkins', '--namespace', ns, '--out-dir', 'kscan-results', '--pod', pod]
        ['pwned-1', 'pwned-2', 'pwned-3'].each { assert !Files.exists(work.resolve(it)) }
        scripts.each { s -> assert !s.contains('shop') && !s.contains('pwned') }
        assert scripts.toSet().size() == 1 // one constant script
    }

    @Test
    void exit0PassesRecordsJunitWithoutMarkingUnstableAndArchives() {
        def out = runStep([namespace: 'shop', pod: 'web', threshold: 't.yml'])
        assert out == [exitCode: 0, verdict: 'passed']
        assert result() == null // untouched: SUCCESS
        assert junitCalls == [[testResults: 'kscan-results/kscan-junit.xml', allowEmptyResults: false,
                               skipMarkingBuildUnstable: true]]
        assert archived == [[artifacts: 'kscan-results/**', allowEmptyArchive: true]]
    }

    @Test
    void exit1IsFailureByDefault() {
        codes.scan = 1
        def out = runStep([namespace: 'shop', pod: 'web', threshold: 't.yml'])
        assert out == 'kscan: the gate failed (exit 1)'
        assert result() == 'FAILURE'
        assert junitCalls.size() == 1 && archived.size() == 1
    }

    @Test
    void exit1IsUnstableWhenAsked() {
        codes.scan = 1
        def out = runStep([namespace: 'shop', pod: 'web', threshold: 't.yml', onGateFailure: 'UNSTABLE'])
        assert out == [exitCode: 1, verdict: 'failed']
        assert result() == 'UNSTABLE'
        assert junitCalls.size() == 1
    }

    @Test
    void exit2And3FailWithoutAReportEvenWhenUnstableIsAsked() {
        [2, 3].each { code ->
            codes.scan = code
            junitCalls.clear()
            binding.getVariable('currentBuild').result = null
            def out = runStep([namespace: 'shop', pod: 'web', onGateFailure: 'UNSTABLE'])
            assert out.startsWith("kscan scan exited ${code}")
            assert result() == 'FAILURE'
            assert junitCalls.isEmpty()
        }
    }

    @Test
    void exit4FailsAfterRecordingTheReports() {
        codes.scan = 4
        def out = runStep([namespace: 'shop', pod: 'web', onGateFailure: 'UNSTABLE', recordIssues: true])
        assert out.contains('left objects behind')
        assert result() == 'FAILURE'
        assert junitCalls.size() == 1 && archived.size() == 1
        assert issues == [[tools: [[pattern: 'kscan-results/kscan.sarif', id: 'kscan', name: 'kscan']]]]
    }

    @Test
    void thePinnedReleaseIsInstalledOnlyWhenItsSha256Matches() {
        def releases = work.resolve('releases')
        def asset = System.getProperty('os.arch') == 'aarch64' ? 'kscan-linux-arm64' : 'kscan-linux-amd64'
        def tag = releases.resolve('download/v0.1.0')
        Files.createDirectories(tag)
        Files.copy(program, tag.resolve(asset))
        def digest = java.security.MessageDigest.getInstance('SHA-256').digest(Files.readAllBytes(program)).encodeHex().toString()
        tag.resolve('SHA256SUMS').text = "${digest}  ${asset}\n"
        def out = step.call([namespace: 'shop', pod: 'web', releasesUrl: "file://${releases}"])
        assert out == [exitCode: 0, verdict: 'not-gated']
        assert argv('scan')[0] == 'scan'
        assert Files.exists(work.resolve(".kscan-bin/v0.1.0/${asset}"))
        tag.resolve('SHA256SUMS').text = "${'0' * 64}  ${asset}\n"
        work.resolve('.kscan-bin').toFile().deleteDir()
        try {
            step.call([namespace: 'shop', pod: 'web', releasesUrl: "file://${releases}"])
            assert false : 'a tampered release was used'
        } catch (StepError e) {
            assert e.message.contains('installing kscan v0.1.0 failed (exit 2)')
        }
    }

    /** The real kscan (KSCAN_BIN, set by scripts/test.d/jenkins.sh): exit 2 for a bad name, 3 for a cluster that does not answer. */
    @Test
    void theRealKscansExit2And3FailTheBuild() {
        String kscan = System.getenv('KSCAN_BIN')
        assert kscan != null && new File(kscan).canExecute() : 'KSCAN_BIN must name the kscan binary (scripts/test.d/jenkins.sh sets it)'
        def kubeconfig = work.resolve('unreachable.kubeconfig')
        kubeconfig.text = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-token}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"""
        [['Not_A_Name', 2], ['web', 3]].each { pod, code ->
            binding.getVariable('currentBuild').result = null
            junitCalls.clear()
            def out = runStep([kscan: kscan, namespace: 'shop', pod: pod, kubeconfig: kubeconfig.toString(), onGateFailure: 'UNSTABLE'])
            assert out.startsWith("kscan scan exited ${code}") : out
            assert result() == 'FAILURE'
            assert junitCalls.isEmpty()
        }
    }

    @Test
    void badOptionsAreRefusedBeforeAnythingRuns() {
        assert runStep([namespace: 'shop', pods: 'web']).startsWith('kscanScan: unknown option(s) pods')
        assert runStep([pod: 'web']).contains('namespace option is required')
        assert runStep([namespace: 'shop', onGateFailure: 'ABORTED']).contains('FAILURE or UNSTABLE')
        assert scripts.isEmpty()
    }
}
