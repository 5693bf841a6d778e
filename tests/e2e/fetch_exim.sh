#!/bin/sh
# fetch_exim.sh — puts Debian's Exim where tests/e2e/test_interop_exim.py
# looks for it: `apt-get download` of exim4-daemon-light, exim4-base and
# exim4-config, unpacked with `dpkg -x` into DIR/root (default
# /var/cache/postern-tests/exim4), the way someone who must keep Postfix
# installed runs a second MTA (the exim4 packages conflict with postfix).
# Also creates the system user Debian-exim, as the package's postinst
# would: the Debian binary looks that user up before it reads any
# configuration. Run by `make deps`; does nothing when DIR already holds a
# working exim4.
#
# Must never: install the packages (dpkg -i / apt-get install), touch the
# system's mail configuration, or leave a set-user-ID binary behind (the
# tests run Exim unprivileged with its own configuration file).
set -eu

dir=${1:-${POSTERN_EXIM_DIR:-/var/cache/postern-tests/exim4}}
exim="$dir/root/usr/sbin/exim4"
packages="exim4-daemon-light exim4-base exim4-config"

if ! getent passwd Debian-exim >/dev/null; then
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin Debian-exim
fi

if [ -x "$exim" ] && "$exim" -C /dev/null -bV >/dev/null 2>&1; then
	exit 0
fi

mkdir -p "$dir"
debs=$(mktemp -d "$dir/debs.XXXXXX")
trap 'rm -rf "$debs"' EXIT
# apt fetches as the _apt user where it can write.
chown _apt "$debs" 2>/dev/null || true
if ! (cd "$debs" && apt-get download -q $packages); then
	apt-get update -q
	(cd "$debs" && apt-get download -q $packages)
fi

rm -rf "$dir/root.new"
for deb in "$debs"/*.deb; do
	dpkg -x "$deb" "$dir/root.new"
done
chmod u-s,g-s "$dir/root.new/usr/sbin/exim4"
chmod 755 "$dir" "$dir/root.new"
rm -rf "$dir/root"
mv "$dir/root.new" "$dir/root"

if ! out=$("$exim" -C /dev/null -bV 2>&1); then
	echo "fetch_exim.sh: $exim does not run (missing libraries?):" >&2
	echo "$out" >&2
	exit 1
fi
echo "Exim for the interop tests: $exim"
