# shellcheck shell=bash
# Shared by scripts/*.sh (sourced, not run). Knows the repo root and how to
# set up a Meson build tree so that re-runs reconfigure instead of failing.

# shellcheck disable=SC2034 # used by the scripts that source this file
BL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The options of the normal tree, shared by `make build`, `make demo` and
# `make check` so that switching between them does not rebuild everything.
# shellcheck disable=SC2034
BL_BUILD_OPTS=(-Dwerror=true)

bl_log() {
	printf '==> %s\n' "$*"
}

# bl_setup_tree DIR [MESON_OPTION...]
# Configures DIR (relative to the repo root or absolute) with the compiler in
# $CC (default: Meson's choice) and the given options. An existing tree is
# reconfigured with the new options; it is wiped first when it was set up
# with another compiler (Meson cannot change compilers in place) or when
# reconfiguring fails. Returns meson's exit status.
bl_setup_tree() {
	local dir=$1
	shift
	local want_cc="${CC:-default}"
	local stamp="$dir/.bl-cc"
	if [ -f "$dir/meson-private/coredata.dat" ]; then
		if [ "$(cat "$stamp" 2>/dev/null)" = "$want_cc" ] &&
			meson setup --reconfigure "$dir" "$@"; then
			return 0
		fi
		bl_log "wiping $dir (compiler changed or reconfigure failed)"
	fi
	rm -rf "$dir"
	meson setup "$dir" "$@" || return
	printf '%s\n' "$want_cc" >"$stamp"
}

# bl_cmocka_present: true when the cmocka development files are installed,
# i.e. when the tests can be configured (-Dtests=true).
bl_cmocka_present() {
	pkg-config --exists cmocka
}
