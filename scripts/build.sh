#!/usr/bin/env bash
# `make build`: configures (or reconfigures) and builds the normal tree in
# build/, with the options `make check` uses. The tests are configured only
# when cmocka is installed (scripts/install-deps.sh --check).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BL_ROOT"

tests=false
bl_cmocka_present && tests=true
bl_setup_tree build "${BL_BUILD_OPTS[@]}" -Dtests=$tests
ninja -C build "$@"
