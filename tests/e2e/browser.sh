#!/usr/bin/env bash
# The browser test: a reader subscribes, confirms, reads, visits the
# preference centre, the archive and the feeds, and unsubscribes, in Debian's
# Chromium driven by playwright-core (tests/e2e/reader.mjs), against a real
# `bulletin serve` on 127.0.0.1 whose engine delivers to tests/smtp/capture.py.
#
# Here: a fresh SQLite database (`bulletin init`; public double opt-in lists
# "news" and "local"; a confirmed witness on news, so the test knows when a
# post has gone out), capture.py on a free port, a config file (relay =
# capture.py, relay_starttls off, form_min_fill 1s, public_url = the server's
# own address: the port is chosen first, then written into the config), and
# `bulletin serve --listen 127.0.0.1:PORT`, whose "listening on" line is
# waited for. reader.mjs prints the scenario's TAP results; this script
# numbers them, then stops the server (it must exit 0 on SIGTERM).
#
# playwright-core comes from npm at the version pinned in package-lock.json
# (`npm ci` into tests/e2e/node_modules when that version is not there yet;
# never a browser download). Skips only when Chromium is missing.
#
# Artefacts, kept after the run (replaced by the next): $BL_E2E_OUT, which
# tests/meson.build sets to BUILD/tests/e2e: screenshots/NN-PAGE-{desktop,phone}.png,
# serve.log (the server's output), mail/ (every captured message).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cli/tap.sh
. "$HERE/../cli/tap.sh"
# shellcheck source=tests/smtp/lib.sh
. "$HERE/../smtp/lib.sh"

CHROMIUM=${BL_CHROMIUM:-/usr/bin/chromium}
OUT_DIR=${BL_E2E_OUT:-$WORK/out}
if [ ! -x "$CHROMIUM" ]; then
	echo "1..0 # SKIP no Chromium at $CHROMIUM (scripts/install-deps.sh --check installs it)"
	exit 0
fi
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
rm -rf "$OUT_DIR"
mkdir -p "$OUT_DIR/screenshots" || exit 1

SERVE_PID=""
NODE_PID=""
stop_node() {
	[ -n "$NODE_PID" ] || return 0
	# Chromium runs under node; end both.
	pkill -TERM -P "$NODE_PID" 2>/dev/null
	kill -TERM "$NODE_PID" 2>/dev/null
	wait "$NODE_PID" 2>/dev/null
	NODE_PID=""
}
stop_serve() {
	[ -n "$SERVE_PID" ] || return 0
	kill -TERM "$SERVE_PID" 2>/dev/null
	wait "$SERVE_PID" 2>/dev/null
	SERVE_PID=""
}
keep_artefacts() {
	cat "$WORK/serve.out" "$WORK/serve.err" >"$OUT_DIR/serve.log" 2>/dev/null
	[ -d "$WORK/mail" ] && cp -R "$WORK/mail" "$OUT_DIR/mail"
	return 0
}
on_exit keep_artefacts
on_exit stop_serve
on_exit stop_node

# bail MESSAGE [DIAG...]: a failed setup step ends the test.
bail() {
	not_ok "$@"
	done_testing
	exit 1
}

# --- playwright-core, at the pinned version ---
pinned() { node -e 'console.log(require(process.argv[1]).packages["node_modules/playwright-core"].version)' "$HERE/package-lock.json"; }
installed() { node -e 'console.log(require(process.argv[1]).version)' "$HERE/node_modules/playwright-core/package.json" 2>/dev/null; }
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	bail "node and npm are installed" "scripts/install-deps.sh --check installs them"
fi
want=$(pinned)
if [ "$(installed)" != "$want" ]; then
	# One installer at a time (a lock on the lock file, which every checkout has).
	(
		flock 9
		[ "$(installed)" = "$want" ] ||
			(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1
	) 9<"$HERE/package-lock.json"
fi
have=$(installed)
if [ "$have" = "$want" ]; then
	ok "playwright-core $want in tests/e2e/node_modules"
else
	bail "playwright-core $want in tests/e2e/node_modules (npm ci)" "installed: ${have:-none}" \
		"$(tail -n 20 "$WORK/npm.log" 2>/dev/null)"
fi

# --- the publisher's side ---
CONF=$WORK/bulletin.conf
DB=sqlite:$WORK/bulletin.db
mkdir -p "$WORK/mail"
start_capture "$WORK/mail" || bail "capture.py starts"
ok "capture.py listens on 127.0.0.1:$CAPTURE_PORT"

# write_config PORT: the config for a server on 127.0.0.1:PORT.
write_config() {
	cat >"$CONF" <<EOF
# written by tests/e2e/browser.sh
db = $DB
public_url = http://127.0.0.1:$1
site_name = Harbour Town Letters
from = Harbour Town Letters <letters@harbour.example>
postal_address = 1 Quay Street, Harbour Town
relay = smtp://127.0.0.1:$CAPTURE_PORT
relay_starttls = off
relay_retry_min = 1s
form_min_fill = 1s
log_level = info
EOF
}
write_config 1
B=("$BULLETIN" --config "$CONF")
expect "bulletin init" 0 "${B[@]}" init
expect "list news: public, double opt-in" 0 "${B[@]}" list create news --name "Harbour News" \
	--optin double --description "What happens at the harbour, once a week."
expect "list local: public, double opt-in" 0 "${B[@]}" list create local --name "Local Alerts" \
	--description "Road works, water cuts, storms."
ADMIN_OUT=$("${B[@]}" user add admin --role admin --generate 2>&1)
ADMIN_PASSWORD=$(printf "%s\n" "$ADMIN_OUT" | awk 'NF { w = $NF } END { print w }')
[ -n "$ADMIN_PASSWORD" ] && ok "an admin user with a generated password" ||
	not_ok "an admin user with a generated password" "$ADMIN_OUT"
expect "a confirmed witness on news" 0 "${B[@]}" subscriber add witness@example.org \
	--name "Wendy Witness" --list news --confirmed
[ "$TAP_FAILED" = 0 ] || bail "setup"

# serve on a port chosen first (public_url names it); another port if that one was taken meanwhile.
BASE=""
for try in 1 2 3; do
	port=$(free_port)
	write_config "$port"
	: >"$WORK/serve.out"
	"${B[@]}" serve --listen "127.0.0.1:$port" >"$WORK/serve.out" 2>"$WORK/serve.err" &
	SERVE_PID=$!
	end=$((SECONDS + 30))
	while [ $SECONDS -lt $end ] && kill -0 "$SERVE_PID" 2>/dev/null &&
		! grep -q '^listening on ' "$WORK/serve.out"; do
		sleep 0.1
	done
	line=$(grep -m1 '^listening on ' "$WORK/serve.out")
	if [ -n "$line" ]; then
		BASE=${line#listening on }
		BASE=${BASE%/}
		break
	fi
	stop_serve
	echo "# serve on port $port did not start (try $try):"
	sed 's/^/#   /' "$WORK/serve.err" | tail -n 5
done
[ -n "$BASE" ] || bail "bulletin serve starts" "$(cat "$WORK/serve.err")"
same "bulletin serve listens on the configured port" "$BASE" "http://127.0.0.1:$port"
same "bulletin serve takes public_url from the config" \
	"$(grep -m1 '^public_url is ' "$WORK/serve.out")" "public_url is http://127.0.0.1:$port"

# --- the reader's side ---
export BL_E2E_BASE=$BASE BL_E2E_MAIL=$WORK/mail BL_E2E_SHOTS=$OUT_DIR/screenshots
export BL_E2E_WORK=$WORK BL_E2E_CONFIG=$CONF BL_CHROMIUM=$CHROMIUM BULLETIN
t0=$SECONDS
# In the background, so that a TERM from the runner reaches our trap at once.
node "$HERE/reader.mjs" >"$WORK/reader.tap" 2>"$WORK/reader.err" &
NODE_PID=$!
wait "$NODE_PID"
node_rc=$?
NODE_PID=""
while IFS= read -r line; do
	case $line in
	"ok - "*) ok "${line#ok - }" ;;
	"not ok - "*) not_ok "${line#not ok - }" ;;
	*) printf '%s\n' "$line" ;;
	esac
done <"$WORK/reader.tap"
if [ "$node_rc" -ne 0 ] && [ "$TAP_FAILED" = 0 ]; then
	not_ok "reader.mjs exits 0" "exit $node_rc" "$(cat "$WORK/reader.err")"
elif [ -s "$WORK/reader.err" ]; then
	sed 's/^/# reader.mjs: /' "$WORK/reader.err"
fi
echo "# the browser part took $((SECONDS - t0)) s; screenshots in $OUT_DIR/screenshots"

# --- the publisher's side in the admin UI ---
t0=$SECONDS
BL_E2E_ADMIN_PASSWORD=$ADMIN_PASSWORD node "$HERE/admin.mjs" >"$WORK/admin.tap" 2>"$WORK/admin.err" &
NODE_PID=$!
wait "$NODE_PID"
node_rc=$?
NODE_PID=""
while IFS= read -r line; do
	case $line in
	"ok - "*) ok "admin: ${line#ok - }" ;;
	"not ok - "*) not_ok "admin: ${line#not ok - }" ;;
	*) printf '%s\n' "$line" ;;
	esac
done <"$WORK/admin.tap"
if [ "$node_rc" -ne 0 ] && [ "$TAP_FAILED" = 0 ]; then
	not_ok "admin.mjs exits 0" "exit $node_rc" "$(cat "$WORK/admin.err")"
elif [ -s "$WORK/admin.err" ]; then
	sed 's/^/# admin.mjs: /' "$WORK/admin.err"
fi
echo "# the admin part took $((SECONDS - t0)) s"

# --- the server stops cleanly ---
if kill -0 "$SERVE_PID" 2>/dev/null; then
	ok "bulletin serve is still running after the scenario"
	kill -TERM "$SERVE_PID"
	end=$((SECONDS + 30))
	while kill -0 "$SERVE_PID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
	if kill -0 "$SERVE_PID" 2>/dev/null; then
		not_ok "bulletin serve exits within 30 s of SIGTERM"
	else
		wait "$SERVE_PID"
		rc=$?
		SERVE_PID=""
		same "bulletin serve exits 0 on SIGTERM" "$rc" 0
	fi
else
	wait "$SERVE_PID"
	rc=$?
	SERVE_PID=""
	not_ok "bulletin serve is still running after the scenario" "it exited $rc" \
		"$(tail -n 30 "$WORK/serve.err")"
fi
done_testing
