# Image contents: what the runtime image ships.
# The same controls run in Rust as kscan's built-in engine (src/engine/builtin/checks.rs).

control 'kscan-os-release' do
  impact 0.3
  title "The image identifies its distribution in /etc/os-release"
  desc 'Without /etc/os-release the image\'s distribution and release cannot be inventoried or matched against advisories.'
  desc 'check', '/etc/os-release exists and has an ID field.'
  desc 'fix', 'Base the image on a distribution that ships /etc/os-release, or add one naming the image\'s base.'
  tag nist: ['CM-8', 'SI-2'], severity: 'low'

  describe file('/etc/os-release') do
    it { should exist }
    its('content') { should match(/^ID=\S+/) }
  end
end

control 'kscan-no-package-manager' do
  impact 0.3
  title "The runtime image has no package manager"
  desc 'A package manager lets an intruder install tooling; runtime images should be built, not mutated.'
  desc 'check', 'None of apt, apt-get, dpkg, apk, yum, dnf, microdnf, rpm, zypper, pip, pip3 exists at its usual path.'
  desc 'fix', 'Use a multi-stage build and copy only the application into a minimal or distroless base.'
  tag nist: ['CM-7', 'CM-11'], severity: 'low'

  %w(/usr/bin/apt /usr/bin/apt-get /usr/bin/dpkg /sbin/apk /usr/bin/yum /usr/bin/dnf /usr/bin/microdnf
     /usr/bin/rpm /usr/bin/zypper /usr/bin/pip /usr/bin/pip3).each do |path|
    describe file(path) do
      it { should_not exist }
    end
  end
end

control 'kscan-no-shell' do
  impact 0.3
  title "The runtime image has no shell"
  desc 'A shell makes command injection and interactive intrusion easy; many images need one, so this is low impact.'
  desc 'check', 'None of sh, bash, ash, dash, zsh exists in /bin or /usr/bin.'
  desc 'fix', 'Use a distroless base; scan it with --strategy debug or sidecar.'
  tag nist: ['CM-7'], severity: 'low'

  %w(/bin/sh /bin/bash /bin/ash /bin/dash /bin/zsh /usr/bin/sh /usr/bin/bash /usr/bin/zsh).each do |path|
    describe file(path) do
      it { should_not exist }
    end
  end
end
