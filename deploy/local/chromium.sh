#!/usr/bin/env bash
# chromium.sh: Debian's headless-capable Chromium, for the test that renders the HTML report.
# Idempotent: installs only when missing.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
command -v chromium >/dev/null && exit 0
with_lock apt apt_install chromium
command -v chromium >/dev/null || die "chromium did not install"
