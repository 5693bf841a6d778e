#!/bin/sh
# run.sh — runs the console's browser tests: installs playwright-core from
# package-lock.json when node_modules is missing, then `node --test`.
# Must never: download a browser (Debian's /usr/bin/chromium is used) or
# install anything but this directory's locked packages.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$here/node_modules" ]; then
	(cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
cd "$here/../.."
status=0
node --test tests/browser/*.test.mjs || status=$?
exit $status
