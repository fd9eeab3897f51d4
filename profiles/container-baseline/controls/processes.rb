# The running container: its processes, users, capabilities and environment.
# The same controls run in Rust as kscan's built-in engine (src/engine/builtin/checks.rs).
# PID 1 is the container's main process when its PID namespace is not shared.

secret_words = input('secret_words')
main_status = file('/proc/1/status').content.to_s
uid_line = main_status[/^Uid:\s+(.*)$/, 1].to_s.split

control 'kscan-main-process-not-root' do
  impact 0.7
  title "The container's main process does not run as root"
  desc 'A process running as root inside the container is one kernel or runtime bug away from root on the node.'
  desc 'check', 'The real UID of the container\'s main process (its entrypoint) is not 0.'
  desc 'fix', 'Set USER in the image and runAsNonRoot: true with a runAsUser in the pod\'s securityContext.'
  tag nist: ['AC-6', 'CM-7'], severity: 'high'

  describe 'Main process real UID' do
    subject { uid_line[0] }
    it { should_not be_nil }
    it { should_not cmp 0 }
  end
end

control 'kscan-no-root-processes' do
  impact 0.5
  title "No process in the container has effective UID 0"
  desc 'Processes that gain effective root (setuid helpers, su, sudo) carry root\'s privileges.'
  desc 'check', 'Every process of the container has a non-zero effective UID.'
  desc 'fix', 'Run as a non-root user and set allowPrivilegeEscalation: false so no process can regain root.'
  tag nist: ['AC-6'], severity: 'medium'

  euids = command("awk '/^Uid:/ { print $3 }' /proc/[0-9]*/status").stdout.split
  describe 'Effective UIDs of the container\'s processes' do
    subject { euids.map(&:to_i) }
    it { should_not include 0 }
  end
end

control 'kscan-no-remote-access-daemons' do
  impact 0.5
  title "No sshd, httpd, nginx or apache2 process runs in the container"
  desc 'Remote-access and general web daemons widen the attack surface; containers should run one purpose-built process.'
  desc 'check', 'No process of the container is named sshd, httpd, nginx, apache2, telnetd, vsftpd or dropbear.'
  desc 'fix', 'Remove the daemon from the image; use kubectl exec for access and a dedicated ingress for HTTP.'
  tag nist: ['CM-7', 'AC-17'], severity: 'medium'

  names = command("awk '/^Name:/ { print $2 }' /proc/[0-9]*/status").stdout.split
  %w(sshd httpd nginx apache2 telnetd vsftpd dropbear).each do |daemon|
    describe "No #{daemon} process runs" do
      subject { names }
      it { should_not include daemon }
    end
  end
end

control 'kscan-no-dangerous-capabilities' do
  impact 0.9
  title "The main process has no CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SYS_PTRACE or CAP_SYS_MODULE"
  desc 'These capabilities allow mounting filesystems, reconfiguring the network, reading other processes and loading kernel modules: near-root on the node.'
  desc 'check', 'None of these bits is set in the main process\'s effective capability set (CapEff).'
  desc 'fix', 'Drop ALL capabilities in the container\'s securityContext and add back only what the workload needs.'
  tag nist: ['AC-6', 'CM-7'], severity: 'critical'

  cap_eff = main_status[/^CapEff:\s+(\h+)/, 1].to_s.hex
  { 'CAP_SYS_ADMIN' => 21, 'CAP_NET_ADMIN' => 12, 'CAP_SYS_PTRACE' => 19, 'CAP_SYS_MODULE' => 16 }.each do |name, bit|
    describe "Main process holds #{name}" do
      subject { cap_eff[bit] }
      it { should cmp 0 }
    end
  end
end

control 'kscan-no-secrets-in-environment' do
  impact 0.7
  title "The main process's environment holds no secrets"
  desc 'Environment variables are visible in the pod spec, to anything that reads /proc/<pid>/environ, and often in crash logs.'
  desc 'check', 'No non-empty variable of the main process has a name containing a secret word (names ending in _FILE or _PATH are allowed). Only names are compared, never values.'
  desc 'fix', 'Mount secrets as files (a Secret volume) and pass the path instead.'
  tag nist: ['IA-5', 'SC-28'], severity: 'high'

  names = file('/proc/1/environ').content.to_s.split("\0").map { |kv| kv.split('=', 2) }
                                  .reject { |_, v| v.to_s.empty? }.map(&:first)
  secret = names.select do |n|
    up = n.upcase
    !up.end_with?('_FILE', '_PATH') && secret_words.any? { |w| up.include?(w) }
  end
  describe 'Secret-looking environment variables of the main process' do
    subject { secret }
    it { should be_empty }
  end
end
