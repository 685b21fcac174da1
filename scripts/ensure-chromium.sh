#!/usr/bin/env bash
# Runs before `npm test`: the browser test drives Debian's chromium (never a downloaded browser).
# Installs it from Debian's packages when it is missing and we may; otherwise says how.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's chromium for the browser test"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  exit 0
fi
echo "The browser test needs Debian's chromium at /usr/bin/chromium: sudo apt-get install -y chromium" >&2
exit 1
