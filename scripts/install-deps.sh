#!/usr/bin/env bash
# Installs the Debian packages bulletin needs, and nothing else.
#   scripts/install-deps.sh           build + runtime packages
#   scripts/install-deps.sh --demo    what `make demo` needs
#   scripts/install-deps.sh --check   what `make check` needs (tests, sanitizers,
#                                     fuzzers, format check, PostgreSQL server)
# A no-op (one dpkg-query) when everything is present. Runs apt-get through
# sudo when not root; `apt-get update` only if the first install attempt fails.
# Add a package to the list that needs it, with a word on why when not obvious.
set -euo pipefail

# Build and runtime: compiler, build system, the libraries of DESIGN.md.
BUILD_PKGS=(
	make meson ninja-build pkg-config gcc
	libsqlite3-dev libpq-dev libjansson-dev libidn2-dev libcsv-dev
	libinih-dev libsodium-dev libxml2-dev
	libcmark-dev libgmime-3.0-dev libcurl4-openssl-dev
	libmicrohttpd-dev
	libssl-dev                 # libcrypto: webhook signatures (SNS RSA/X.509, SendGrid ECDSA)
	tzdata                     # /usr/share/zoneinfo: config `timezone` (digest periods)
)
# `make demo`: the build list plus these.
DEMO_PKGS=()
# `make check`: the build list plus these.
CHECK_PKGS=(
	libcmocka-dev              # unit and store contract tests
	clang libclang-rt-14-dev   # libFuzzer + sanitizer runtimes for build-fuzz
	llvm-14                    # llvm-symbolizer: readable fuzzer stack traces
	clang-format               # scripts/format-check.sh
	postgresql                 # private server for test_store_postgres
	sqlite3                    # inspecting test databases
	jq                         # scripts/run-tests.sh reads `meson introspect`
	iproute2                   # ss: picking a free port for PostgreSQL
	util-linux                 # runuser: PostgreSQL as the postgres user when root
	coreutils findutils        # timeout, find
	postfix                    # smtp-sink/smtp-source and a real relay on loopback
	python3-aiosmtpd           # the capturing SMTP server of the delivery tests
	python3-html5lib           # strict HTML5 parsing of the web pages (unit/pages)
	python3-feedparser         # reading back the Atom feeds (unit/feeds)
	openssl                    # a throwaway certificate for the STARTTLS tests
	dovecot-imapd dovecot-pop3d # a private IMAP/POP3 peer for the bounce mailbox poller
	chromium                   # the browser test (tests/e2e), driven by playwright-core
)
# Node.js for the browser test (playwright-core comes from npm: tests/e2e/
# package-lock.json). A machine with Node.js from elsewhere (NodeSource's
# nodejs bundles npm and conflicts with Debian's npm package) keeps it:
# Debian's nodejs and npm are added only when there is no npm command.
if ! command -v npm >/dev/null 2>&1; then
	CHECK_PKGS+=(nodejs npm)
fi

usage() {
	echo "usage: $0 [--demo|--check]" >&2
	exit 2
}

pkgs=("${BUILD_PKGS[@]}")
case "${1:-}" in
"") ;;
--demo) pkgs+=("${DEMO_PKGS[@]}") ;;
--check) pkgs+=("${CHECK_PKGS[@]}") ;;
*) usage ;;
esac
[ $# -le 1 ] || usage

# Installed means dpkg's status is "ii"; anything else (absent, half
# configured, removed with config files left) gets (re)installed.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${pkgs[@]}" 2>/dev/null |
	awk '$2 == "ii" { print $1 }' || true)
missing=()
for p in "${pkgs[@]}"; do
	grep -qxF "$p" <<<"$installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null; then
	sudo=(sudo)
else
	echo "install-deps: not root and no sudo; install as root: ${missing[*]}" >&2
	exit 1
fi
# Postfix is only a test peer: its own instances run from private config
# directories; the system-wide one stays unconfigured and stopped.
if printf '%s\n' "${missing[@]}" | grep -qx postfix; then
	echo "postfix postfix/main_mailer_type select No configuration" |
		"${sudo[@]}" debconf-set-selections
fi
apt_install() {
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${missing[@]}"
}
if ! apt_install; then
	echo "install-deps: install failed; running apt-get update and retrying" >&2
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
	apt_install
fi
