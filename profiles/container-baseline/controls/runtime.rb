# What the kernel applied to the running container: seccomp, no_new_privs,
# capabilities, mounts, namespaces, the LSM label; and what its filesystem
# exposes (a service account token, private keys).
# The same controls run in Rust as kscan's built-in engine
# (crates/kscan-agent/src/builtin/runtime.rs), which also compares them with
# what the pod spec asked for; InSpec does not see the pod spec.
# PID 1 is the container's main process when its PID namespace is not shared.

main_status = file('/proc/1/status').content.to_s
status_field = ->(name) { main_status[/^#{name}:\s+(\S+)/, 1] }
mountinfo = file('/proc/1/mountinfo').content.to_s.lines.map do |line|
  left, right = line.split(' - ', 2)
  fields = left.to_s.split(' ')
  super_opts = right.to_s.split(' ')[2].to_s.split(',')
  { point: fields[4].to_s.gsub(/\\([0-7]{3})/) { Regexp.last_match(1).to_i(8).chr }, opts: fields[5].to_s.split(','), type: right.to_s.split(' ')[0].to_s, super: super_opts }
end
mount_of = lambda do |path|
  covering = mountinfo.select { |m| m[:point] == path || m[:point] == '/' || path.start_with?("#{m[:point]}/") }
  longest = covering.map { |m| m[:point].length }.max
  covering.reverse.find { |m| m[:point].length == longest }
end
read_only = ->(m) { !m.nil? && (m[:opts] + m[:super]).include?('ro') }

control 'kscan-seccomp-applied' do
  impact 0.5
  title "The kernel confines the main process with a seccomp filter"
  desc 'Without seccomp every system call of the kernel is open to the container.'
  desc 'check', 'The Seccomp field of /proc/1/status is 2 (filter) or 1 (strict), not 0.'
  desc 'fix', 'Set securityContext.seccompProfile.type: RuntimeDefault; do not run the container privileged.'
  tag nist: ['AC-6', 'CM-7', 'SC-39'], severity: 'medium', cis_kubernetes: ['5.7.2'], cis_docker: ['5.21'], pss: ['restricted: Seccomp']

  describe 'Seccomp mode of the main process' do
    subject { status_field.call('Seccomp') }
    it { should_not be_nil }
    it { should_not cmp 0 }
  end
end

control 'kscan-no-new-privileges' do
  impact 0.5
  title "The main process cannot gain privileges through execve (no_new_privs)"
  desc 'Without no_new_privs a setuid or file-capability binary turns a compromised process into root.'
  desc 'check', 'The NoNewPrivs field of /proc/1/status is 1.'
  desc 'fix', 'Set securityContext.allowPrivilegeEscalation: false.'
  tag nist: ['AC-6(10)'], severity: 'medium', cis_kubernetes: ['5.2.6'], cis_docker: ['5.25'], pss: ['restricted: Privilege Escalation']

  describe 'NoNewPrivs of the main process' do
    subject { status_field.call('NoNewPrivs') }
    it { should cmp 1 }
  end
end

control 'kscan-capabilities-restricted' do
  impact 0.7
  title "No process holds a capability beyond NET_BIND_SERVICE, and the bounding set allows no more"
  desc 'Pod Security restricted drops every capability but NET_BIND_SERVICE.'
  desc 'check', 'No process has a CapEff bit other than bit 10 (CAP_NET_BIND_SERVICE); the main process\'s CapBnd has no other bit.'
  desc 'fix', 'Set securityContext.capabilities.drop: [ALL] and add back only NET_BIND_SERVICE.'
  tag nist: ['AC-6', 'CM-7'], severity: 'high', cis_kubernetes: ['5.2.9', '5.2.10'], cis_docker: ['5.3'], pss: ['restricted: Capabilities']

  others = ~(1 << 10)
  effective = command("awk '/^CapEff:/ { print $2 }' /proc/[0-9]*/status").stdout.split.map(&:hex)
  describe 'Effective capabilities beyond NET_BIND_SERVICE, per process' do
    subject { effective.map { |caps| caps & others } }
    it { should all(cmp 0) }
  end
  describe 'Bounding set of the main process beyond NET_BIND_SERVICE' do
    subject { status_field.call('CapBnd').to_s.hex & others }
    it { should cmp 0 }
  end
end

control 'kscan-root-filesystem-read-only' do
  impact 0.5
  title "The container's root filesystem is mounted read-only"
  desc 'A writable root filesystem lets an attacker replace the image\'s binaries in the running container.'
  desc 'check', 'The mount at / in /proc/1/mountinfo is read-only.'
  desc 'fix', 'Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the workload must write.'
  tag nist: ['CM-5', 'SI-7'], severity: 'medium', cis_kubernetes: ['5.7.3'], cis_docker: ['5.12']

  describe 'The root filesystem is read-only' do
    subject { read_only.call(mount_of.call('/')) }
    it { should cmp true }
  end
end

control 'kscan-kernel-interfaces-read-only' do
  impact 0.7
  title "/proc/sys, /proc/sysrq-trigger, /sys and /sys/fs/cgroup are read-only in the container"
  desc 'Writable kernel interfaces let a container change the node\'s kernel settings.'
  desc 'check', 'Each path resolves, in /proc/1/mountinfo, to a read-only mount.'
  desc 'fix', 'Do not run the container privileged and keep procMount: Default.'
  tag nist: ['AC-6', 'SC-39'], severity: 'high', cis_kubernetes: ['5.2.2'], cis_docker: ['5.4'], pss: ['baseline: Privileged Containers']

  # A path the kernel does not provide cannot be written (no /proc/sysrq-trigger
  # without CONFIG_MAGIC_SYSRQ). Under cgroup v1 the cgroup mounts below
  # /sys/fs/cgroup are the interface, not the tmpfs that holds them.
  %w(/proc/sys /proc/sysrq-trigger /sys /sys/fs/cgroup).select { |path| file(path).exist? }.each do |path|
    controllers = mountinfo.select { |m| m[:type].start_with?('cgroup') && (m[:point] == path || m[:point].start_with?("#{path}/")) }
    mounts = path == '/sys/fs/cgroup' && !controllers.empty? ? controllers : [mount_of.call(path)]
    describe "#{path} is read-only" do
      subject { mounts.all? { |m| read_only.call(m) } }
      it { should cmp true }
    end
  end
end

control 'kscan-no-host-namespaces' do
  impact 0.7
  title "The container does not share the node's PID, IPC, network or UTS namespace"
  desc 'A container in the node\'s namespaces sees its processes, shared memory and network.'
  desc 'check', 'The namespace inode numbers of PID 1 are not the kernel\'s initial ones (include/linux/proc_ns.h).'
  desc 'fix', 'Remove hostPID, hostIPC and hostNetwork from the pod spec.'
  tag nist: ['AC-6', 'SC-39'], severity: 'high', cis_kubernetes: ['5.2.3', '5.2.4', '5.2.5'], cis_docker: ['5.9', '5.15', '5.16', '5.20'], pss: ['baseline: Host Namespaces']

  { 'pid' => 0xEFFFFFFC, 'ipc' => 0xEFFFFFFF, 'net' => 0xEFFFFFF9, 'uts' => 0xEFFFFFFE }.each do |ns, initial|
    describe "The #{ns} namespace of the main process" do
      subject { command("stat -L -c %i /proc/1/ns/#{ns}").stdout.strip }
      it { should_not be_empty }
      it { should_not cmp initial }
    end
  end
end

control 'kscan-lsm-profile-applied' do
  impact 0.5
  title "The main process runs under an enforcing AppArmor or SELinux profile where the node has one"
  desc 'Unconfined, a container escape meets no mandatory access control.'
  desc 'check', 'attr/apparmor/current or attr/current of PID 1 names an enforcing AppArmor profile or a confining SELinux type.'
  desc 'fix', 'Keep the runtime\'s default profile (appArmorProfile.type: RuntimeDefault, a container_t SELinux type).'
  tag nist: ['AC-3', 'AC-6'], severity: 'medium', cis_kubernetes: ['5.7.3'], cis_docker: ['5.1', '5.2'], pss: ['baseline: AppArmor', 'baseline: SELinux']

  label = [file('/proc/1/attr/apparmor/current'), file('/proc/1/attr/current')].map { |f| f.content.to_s.delete("\0").strip }.find { |l| !l.empty? }
  node_has_lsm = file('/sys/module/apparmor/parameters/enabled').content.to_s.start_with?('Y') || file('/sys/fs/selinux/enforce').exist?
  only_if('the node runs neither AppArmor nor SELinux') { node_has_lsm || !label.nil? }
  describe 'The LSM label of the main process' do
    subject { label.to_s }
    it { should_not be_empty }
    it { should_not eq 'unconfined' }
    it { should_not match(/\((complain|unconfined)\)\z/) }
    it { should_not match(/:(unconfined_t|spc_t|kernel_t|initrc_t|unconfined_service_t):/) }
  end
end

control 'kscan-no-service-account-token' do
  impact 0.5
  title "No service account token is mounted into a container that does not call the API"
  desc 'Whoever reads a mounted token acts with the pod\'s permissions.'
  desc 'check', 'No token at /var/run/secrets/kubernetes.io/serviceaccount/token or /run/secrets/kubernetes.io/serviceaccount/token (the built-in engine honours the annotation kscan.dev/uses-kubernetes-api).'
  desc 'fix', 'Set automountServiceAccountToken: false on the pod or its ServiceAccount.'
  tag nist: ['AC-6', 'IA-5'], severity: 'medium', cis_kubernetes: ['5.1.6']

  %w(/var/run/secrets/kubernetes.io/serviceaccount/token /run/secrets/kubernetes.io/serviceaccount/token).each do |path|
    describe file(path) do
      it { should_not exist }
    end
  end
end

control 'kscan-no-private-keys-in-filesystem' do
  impact 0.7
  title "No private key or cloud credential is readable in the container's filesystem"
  desc 'A key in the image travels with every copy of it and is one file read away from an attacker.'
  desc 'check', 'No readable file of at most 1 MiB on the root filesystem named like a key or credentials file holds a private-key header or a cloud credential marker in its first 64 lines. Paths only, never contents.'
  desc 'fix', 'Remove the files from the image and deliver keys from a Secret volume or a secret store.'
  tag nist: ['IA-5', 'SC-12', 'SC-28'], severity: 'high', cis_kubernetes: ['5.4.1', '5.4.2']

  names = %w(*.pem *.key *.ppk id_rsa id_dsa id_ecdsa id_ed25519 credentials *credentials*.json *service-account*.json *service_account*.json)
  markers = ['PRIVATE KEY-----', 'PuTTY-User-Key-File', 'aws_secret_access_key', '"private_key_id"', '"refresh_token"']
  name_args = names.map { |n| "-name '#{n}'" }.join(' -o ')
  candidates = command("find / -xdev -type f -size -1025k \\( #{name_args} \\) 2>/dev/null").stdout.lines.map(&:strip).reject(&:empty?)
  found = candidates.select do |path|
    head = command("head -n 64 '#{path.gsub("'", "'\\\\''")}'").stdout
    markers.any? { |m| head.include?(m) }
  end
  describe 'Files holding a private key or cloud credential' do
    subject { found }
    it { should be_empty }
  end
end
