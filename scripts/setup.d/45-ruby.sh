# Debian's Ruby, for the profile tests (tests/profile.rs): `ruby -c` over
# every control file of profiles/, and tests/cinc/profile-commands.rb, which
# runs the control files with InSpec's resources stubbed to learn the exact
# command lines they issue. Only the interpreter and its standard library
# (json, yaml): CINC Auditor itself and its train plugins are Ruby gems,
# not Debian packages.
# Links into $KSCAN_BIN:
#   ruby   /usr/bin/ruby
source "$(dirname "$0")/../lib.sh"

apt_install ruby
# Debian's path, not `command -v ruby`: once linked, $KSCAN_BIN comes first on
# PATH and a second run would link the link to itself.
[ -x /usr/bin/ruby ] || die "apt installed ruby, but /usr/bin/ruby is missing"
ln -sfn /usr/bin/ruby "$KSCAN_BIN/ruby"
ruby -e 'require "json"; require "yaml"' || die "Debian's ruby lacks json or yaml"
