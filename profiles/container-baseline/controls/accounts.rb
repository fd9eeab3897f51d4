# Local accounts and their files.
# The same controls run in Rust as kscan's built-in engine (src/engine/builtin/checks.rs).

control 'kscan-passwd-owner-mode' do
  impact 0.7
  title "/etc/passwd is owned by root and not writable by group or others"
  desc 'A writable /etc/passwd lets any process add accounts or change UIDs, including to 0.'
  desc 'check', '/etc/passwd is owned by UID 0 and GID 0 with mode 0644 or stricter.'
  desc 'fix', 'chown root:root /etc/passwd && chmod 0644 /etc/passwd in the image build.'
  tag nist: ['AC-3', 'AC-6'], severity: 'high'

  describe file('/etc/passwd') do
    it { should exist }
    its('uid') { should cmp 0 }
    its('gid') { should cmp 0 }
    it { should_not be_more_permissive_than('0644') }
  end
end

control 'kscan-shadow-owner-mode' do
  impact 0.7
  title "/etc/shadow is owned by root and not readable by others"
  desc 'Password hashes readable by other users can be cracked offline.'
  desc 'check', 'If /etc/shadow exists, it is owned by UID 0 with mode 0640 or stricter.'
  desc 'fix', 'chown root /etc/shadow && chmod 0640 /etc/shadow (or remove it if the image needs no local accounts).'
  tag nist: ['AC-3', 'IA-5'], severity: 'high'

  if file('/etc/shadow').exist?
    describe file('/etc/shadow') do
      its('uid') { should cmp 0 }
      it { should_not be_more_permissive_than('0640') }
    end
  else
    describe 'File /etc/shadow is absent: the image holds no local password hashes' do
      it { expect(file('/etc/shadow')).not_to exist }
    end
  end
end

control 'kscan-shadow-no-empty-passwords' do
  impact 0.7
  title "No account in /etc/shadow has an empty password"
  desc 'An account with an empty password can be used without any secret.'
  desc 'check', 'No /etc/shadow entry has an empty second field.'
  desc 'fix', 'Lock the account (passwd -l NAME) or set a password hash in the image build.'
  tag nist: ['IA-5'], severity: 'high'

  describe shadow.where { password.nil? || password.empty? } do
    its('users') { should be_empty }
  end
end

control 'kscan-passwd-single-uid0' do
  impact 0.7
  title "Only root has UID 0"
  desc 'Any account with UID 0 is root under another name.'
  desc 'check', 'The only /etc/passwd entry with UID 0 is named root.'
  desc 'fix', 'Remove the extra UID 0 accounts from /etc/passwd or give them their own UIDs.'
  tag nist: ['AC-6', 'IA-2'], severity: 'high'

  describe passwd.uids(0) do
    its('users') { should cmp ['root'] }
  end
end
