# Permissions in system paths.
# The same controls run in Rust as kscan's built-in engine (src/engine/builtin/checks.rs).

system_dirs = input('system_dirs')

control 'kscan-no-world-writable-system-files' do
  impact 0.5
  title "No world-writable files or non-sticky world-writable directories in system paths"
  desc 'World-writable binaries, libraries or configuration let any user change what root runs.'
  desc 'check', 'No regular file under /bin, /sbin, /usr, /lib, /lib64, /etc, /opt, /boot is writable by others, and no directory there is writable by others without the sticky bit.'
  desc 'fix', 'chmod o-w the listed paths in the image build.'
  tag nist: ['AC-3', 'CM-6'], severity: 'medium'

  dirs = system_dirs.select { |d| directory(d).exist? && !file(d).symlink? }
  files = dirs.empty? ? '' : command(['find', *dirs, '-xdev', '-type', 'f', '-perm', '-0002'].join(' ')).stdout
  open_dirs = dirs.empty? ? '' : command(['find', *dirs, '-xdev', '-type', 'd', '-perm', '-0002', '!', '-perm', '-1000'].join(' ')).stdout
  describe 'World-writable files and non-sticky directories in system paths' do
    subject { (files + open_dirs).lines.map(&:strip).reject(&:empty?) }
    it { should be_empty }
  end
end

control 'kscan-no-setid-binaries' do
  impact 0.5
  title "No setuid or setgid binaries in system paths"
  desc 'Setuid and setgid binaries are the usual way back to root from a non-root process.'
  desc 'check', 'No regular file under the system paths has the setuid or setgid bit.'
  desc 'fix', 'Remove the binaries or their setuid/setgid bits (chmod ug-s) in the image build, and set allowPrivilegeEscalation: false.'
  tag nist: ['AC-6', 'CM-7'], severity: 'medium'

  dirs = system_dirs.select { |d| directory(d).exist? && !file(d).symlink? }
  # InSpec runs the string with sh -c: the parentheses must reach find escaped.
  found = dirs.empty? ? '' : command(['find', *dirs, '-xdev', '-type', 'f', '\\(', '-perm', '-4000', '-o', '-perm', '-2000', '\\)'].join(' ')).stdout
  describe 'Setuid and setgid files in system paths' do
    subject { found.lines.map(&:strip).reject(&:empty?) }
    it { should be_empty }
  end
end
