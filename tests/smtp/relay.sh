# Helpers for the end-to-end delivery tests (tests/smtp/*.sh): TAP and a
# fresh database per backend from tests/cli/tap.sh, plus relays on loopback
# that the tests start, stop and restart on the same port: capturing ones
# (tests/smtp/capture.py, which stores every accepted message, so that we can
# count the messages each recipient got) and Postfix's smtp-sink.
# Source it; every relay and engine started here is stopped at exit.

# shellcheck source=tests/cli/tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/tap.sh"
SMTP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CAPTURE=$SMTP_DIR/capture.py
PY=/usr/bin/python3 # Debian's python3-aiosmtpd belongs to this interpreter
SINK=/usr/sbin/smtp-sink
B=$BULLETIN
BG_PIDS=""

for need in "$PY" "$SINK" jq; do
	if ! command -v "$need" >/dev/null; then
		echo "Bail out! $need is missing (scripts/install-deps.sh installs it)"
		exit 1
	fi
done
if ! "$PY" -c 'import aiosmtpd' 2>/dev/null; then
	echo "Bail out! python3-aiosmtpd is missing (scripts/install-deps.sh installs it)"
	exit 1
fi

smtp_cleanup() {
	local p
	for p in $BG_PIDS; do kill -9 "$p" 2>/dev/null; done
	for p in $BG_PIDS; do wait "$p" 2>/dev/null; done
	cleanup
}
trap smtp_cleanup EXIT

# bg_add PID / bg_forget PID: processes to end at exit.
bg_add() { BG_PIDS="$BG_PIDS $1"; }
bg_forget() { BG_PIDS=$(printf '%s\n' $BG_PIDS | grep -vx "$1" | tr '\n' ' '); }

# free_port: a loopback port nobody listens on, below the ephemeral range.
free_port() {
	local port used
	used=$(ss -Htln 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }')
	while :; do
		port=$((20000 + RANDOM % 12000))
		grep -qxF "$port" <<<"$used" || break
	done
	echo "$port"
}

# listening PORT: something accepts connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# relay_start NAME PORT [capture.py options...]: a capturing relay on PORT
# (0: a free one) storing into a new $WORK/relay-NAME/msgs.N (capture.py
# numbers its files from 1 each time it starts). Sets RELAY_PORT. A transcript of every session goes to
# $WORK/relay-NAME/transcript.
relay_start() {
	local name=$1 port=$2 dir=$WORK/relay-$1 pid
	shift 2
	mkdir -p "$dir"
	rm -f "$dir/port"
	RELAY_STARTS=$((${RELAY_STARTS:-0} + 1))
	"$PY" "$CAPTURE" --dir "$dir/msgs.$RELAY_STARTS" --port "$port" --port-file "$dir/port" \
		--transcript "$dir/transcript" "$@" >/dev/null 2>>"$dir/log" &
	pid=$!
	echo "$pid" >"$dir/pid"
	bg_add "$pid"
	for _ in $(seq 200); do
		[ -s "$dir/port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if [ ! -s "$dir/port" ]; then
		echo "Bail out! capture.py did not start: $(cat "$dir/log")"
		exit 1
	fi
	RELAY_PORT=$(cat "$dir/port")
}

# sink_start NAME PORT [smtp-sink options...]: an smtp-sink on PORT (it
# stores nothing). Its counters go to $WORK/relay-NAME/sink.out.
sink_start() {
	local name=$1 port=$2 dir=$WORK/relay-$1 pid user=()
	shift 2
	mkdir -p "$dir"
	[ "$(id -u)" -eq 0 ] && user=(-u nobody)
	"$SINK" "${user[@]}" "$@" "127.0.0.1:$port" 100 >>"$dir/sink.out" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/pid"
	bg_add "$pid"
	for _ in $(seq 200); do
		listening "$port" && { RELAY_PORT=$port; return 0; }
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "Bail out! smtp-sink did not start on port $port"
	exit 1
}

# relay_stop NAME: stop the relay (capture.py or smtp-sink) and wait for it.
relay_stop() {
	local dir=$WORK/relay-$1 pid
	pid=$(cat "$dir/pid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	bg_forget "$pid"
	rm -f "$dir/pid"
}

# captured NAME...: the envelope recipient of every message the capturing
# relays NAME... stored, lower-cased, one line per message.
captured() {
	local name
	for name in "$@"; do
		[ -d "$WORK/relay-$name" ] || continue
		find "$WORK/relay-$name" -path '*/msgs.*' -name '*.json' -exec cat {} + |
			jq -r '.rcpt_tos[] | ascii_downcase'
	done
}

# status ID: the counts of `post status ID --json` as one compact line.
status() {
	"$B" post status "$1" --json |
		jq -c '{status,total,accepted,pending,claimed,deferred,failed,suppressed}'
}
# field ID KEY: one value of `post status ID --json`.
field() { "$B" post status "$1" --json | jq -r ".$2 // empty"; }

# wait_until SECONDS CMD...: run CMD every 0.1 s until it succeeds; 1 on timeout.
wait_until() {
	local end
	end=$(($(date +%s%N) / 1000000 + $1 * 1000))
	shift
	until "$@"; do
		[ $(($(date +%s%N) / 1000000)) -ge "$end" ] && return 1
		sleep 0.1
	done
}

# sql QUERY: one query on $BULLETIN_DB, values separated by |.
sql() {
	if [ "$BL_CLI_BACKEND" = postgres ]; then
		psql -qAt "$BULLETIN_DB" -c "$1"
	else
		sqlite3 -cmd '.timeout 5000' "${BULLETIN_DB#sqlite:}" "$1"
	fi
}

# check_true DESC WHY CONDITION...: a check that CONDITION succeeds; on
# failure WHY (what went wrong, with the figures) is printed under it.
# (These were TAP TODOs for product bugs; the bugs are fixed, so they count.)
check_true() {
	local desc=$1 why=$2
	shift 2
	if "$@"; then
		ok "$desc"
	else
		not_ok "$desc" "$why"
	fi
}

# ledger_ok DESC ID TOTAL ACCEPTED FAILED: post ID is sent, every row is
# final, accepted + failed + suppressed = total, and the counts are these.
ledger_ok() {
	local desc=$1 id=$2 total=$3 acc=$4 failed=$5 got
	got=$(status "$id")
	same "$desc" "$got" \
		"{\"status\":\"sent\",\"total\":$total,\"accepted\":$acc,\"pending\":0,\"claimed\":0,\"deferred\":0,\"failed\":$failed,\"suppressed\":$((total - acc - failed))}"
}

# per_recipient_ok DESC WANT_FILE RELAY...: every address in WANT_FILE (one a
# line, lower-case) got exactly one message from the relays, and nobody else
# got any.
per_recipient_ok() {
	local desc=$1 want=$2 got
	shift 2
	got=$(captured "$@" | sort | uniq -c | awk '{ print $2 " " $1 }')
	same "$desc" "$got" "$(sort "$want" | awk '{ print $1 " 1" }')"
}
