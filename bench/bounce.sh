#!/bin/bash
# Bounce intake benchmark (issue 7): `bulletin bounce --maildir` over a
# maildir of REPORTS mixed reports (default 50,000), beside a reference
# measured in the same run on the same files.
#
# Setup (not timed): a SQLite database (in BENCH_TMPDIR, on disk) with N
# subscribers (default 50,000; CSV import --confirmed) on one list, and one
# post sent to them all with `post send ID --wait` through the maildir relay
# (BULLETIN_RELAY=maildir:DIR). bench/bounce_gen.py then writes REPORTS
# reports about those messages, each to the VERP address of the message's
# Return-Path and carrying its header block: RFC 3464 DSNs (hard 5.1.1, soft
# 4.2.2, block 5.7.1, Exchange style with quoted-printable text and the whole
# original), delay warnings, qmail and Exim bounces (text heuristics), ARF
# complaints, RFC 3834 auto-replies (some Latin-1), reports nothing
# attributes (review) and duplicates (the same report twice); its header
# says the mix, and it writes the outcome counts it expects. The maildirs are
# on a RAM disk (BENCH_MAILDIR, default /dev/shm), as in bench/feeds.sh: the
# files' own I/O is not what is measured; the database's commits are.
#
# Measured:
#   1. bulletin: `bulletin bounce --maildir DIR --json` under GNU time, the
#      whole process (read each file, parse it with GMime, classify,
#      attribute by VERP, record with the policy: BATCH messages per SQLite
#      transaction, synchronous=FULL; remove the handled files): wall, user +
#      system CPU, peak RSS. RUNS times (default 3), each on a fresh copy of
#      the database and of the maildir; msgs/s of the median wall time. Its
#      JSON counts, the bounces table's rows per class, and each attributed
#      finding's recipient (the subscriber's address) are checked against
#      what the generator made: the bench fails loudly if they disagree.
#   2. the same files analysed without the store (build/bench_bounces: read
#      into memory, bl_bounce_analyze), msgs/s of CPU: the parsing share.
#   3. reference: /usr/bin/python3's stdlib email parser over the same
#      maildir, each file opened and parsed with
#      email.message_from_binary_file(f, policy=email.policy.default), every
#      part walked and each leaf's payload decoded (get_payload(decode=True));
#      one process, timed by GNU time (wall, CPU). Ratio: bulletin's msgs/s
#      (parse + classify + record) over the reference's (parse only).
#
#   bench/bounce.sh [REPORTS [N]]   (uses ./build/bulletin and ./build/bench_bounces;
#                                   builds them if missing)
# Environment: RUNS (default 3), BENCH_TMPDIR (database; default /tmp),
# BENCH_MAILDIR (maildirs; default /dev/shm). Results: bench/out/bounce/
# (logs, the generator's expectations, each run's JSON and time) and
# bench/out/bounce.txt (the summary). Target (issue 7): >= 5,000 msgs/s.
# Needs sqlite3, jq, /usr/bin/python3, GNU time.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REPORTS=${1:-50000}
N=${2:-50000}
RUNS=${RUNS:-3}
B=$ROOT/build/bulletin
BB=$ROOT/build/bench_bounces
OUT=$ROOT/bench/out/bounce
SUMMARY=$ROOT/bench/out/bounce.txt
for tool in sqlite3 jq /usr/bin/python3 /usr/bin/time awk; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install sqlite3 jq python3 time gawk)" >&2; exit 1; }
done
if [ ! -x "$B" ] || [ ! -x "$BB" ]; then
	(cd "$ROOT" && { [ -d build ] || meson setup build >/dev/null; } && ninja -C build bulletin bench_bounces >/dev/null)
fi
mkdir -p "$OUT"
TMP=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/bl-bench-bounce-XXXXXX")
MAILDIRS=$(mktemp -d "${BENCH_MAILDIR:-/dev/shm}/bl-bench-bounce-XXXXXX")
# shellcheck disable=SC2034 # bench/lib.sh stops $pids on exit
pids=()
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_traps bench/bounce.sh
trap 'bench_cleanup; rm -rf "$MAILDIRS"' EXIT

now() { echo "$EPOCHREALTIME"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
fail() { echo "bench/bounce.sh: FAILED: $*" >&2; exit 1; }
: >"$OUT/commands.log"
echo "bench/bounce.sh: $REPORTS reports about a post to $N subscribers, $RUNS runs, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); logs in $OUT" >&2

# -------------------------------------------------------------------- setup
export BULLETIN_LOG_LEVEL=warn
export BULLETIN_FROM="Newsroom <letters@news.example>"
export BULLETIN_PUBLIC_URL="https://news.example"
export BULLETIN_POSTAL_ADDRESS="1 Harbour Street, 1000 City"
DBF=$TMP/bulletin.db
SNAP=$TMP/snapshot.db
export BULLETIN_DB="sqlite:$DBF"
export BULLETIN_RELAY="maildir:$MAILDIRS/outbox"
t0=$(now)
awk -v n="$N" 'BEGIN {
	print "email,name";
	for (i = 0; i < n; i++) {
		k = (i * 7919 + 104729) % n;
		printf "reader.%07d@example%d.org,Reader %d\n", k, k % 13, k;
	}
}' >"$TMP/subs.csv"
"$B" init >/dev/null
"$B" list create news --name "Newsroom" >/dev/null
"$B" import "$TMP/subs.csv" --list news --confirmed --quiet >>"$OUT/commands.log" 2>&1
printf '# Storm warning for Thursday night\n\nSecure what the wind can take.\n\n[Unsubscribe]({{unsubscribe_url}})\n' >"$TMP/body.md"
POST=$("$B" post create --list news --subject "Storm warning for Thursday night" --body-file "$TMP/body.md")
"$B" post send "$POST" --wait >>"$OUT/commands.log" 2>&1
SENT=$(find "$MAILDIRS/outbox/new" -type f | wc -l)
[ "$SENT" -eq "$N" ] || fail "the relay's maildir holds $SENT messages, want $N"
echo "setup: $N subscribers imported, post $POST sent to the maildir in $(secs "$t0" "$(now)") s" >&2

t0=$(now)
/usr/bin/python3 "$ROOT/bench/bounce_gen.py" "$MAILDIRS/outbox" "$MAILDIRS/reports" "$REPORTS" "$OUT/expected.json"
rm -rf "$MAILDIRS/outbox"
REPORT_BYTES=$(du -sb "$MAILDIRS/reports" | cut -f1)
echo "generator: $REPORTS reports ($((REPORT_BYTES / 1000000)) MB) in $(secs "$t0" "$(now)") s: $(jq -c .mix "$OUT/expected.json")" >&2
sqlite3 "$DBF" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
cp "$DBF" "$SNAP"

# ---------------------------------------------------------------- reference
cat >"$TMP/reference.py" <<'PY'
import email, email.policy, os, sys
d = os.path.join(sys.argv[1], "new")
n = parts = 0
for name in sorted(os.listdir(d)):
    with open(os.path.join(d, name), "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    for part in msg.walk():
        parts += 1
        if not part.is_multipart():
            part.get_payload(decode=True)
    n += 1
print(n, parts)
PY
/usr/bin/time -f "%e %U %S %M" -o "$OUT/reference.time" \
	/usr/bin/python3 "$TMP/reference.py" "$MAILDIRS/reports" >"$OUT/reference.out" 2>>"$OUT/commands.log"
read -r R_WALL ru rs R_KB <"$OUT/reference.time"
R_CPU=$(awk -v u="$ru" -v s="$rs" 'BEGIN { print u + s }')
read -r R_MSGS R_PARTS <"$OUT/reference.out"
[ "$R_MSGS" -eq "$REPORTS" ] || fail "the reference read $R_MSGS messages, want $REPORTS"
echo "reference: python email, $R_MSGS messages ($R_PARTS parts) in $R_WALL s wall, $R_CPU s CPU" >&2

# -------------------------------------------------- analysis alone (no store)
read -r A_MSGS A_FINDINGS A_WALL A_CPU _ < <("$BB" 1 "$MAILDIRS/reports/new")
[ "$A_MSGS" -eq "$REPORTS" ] || fail "bench_bounces read $A_MSGS messages, want $REPORTS"
echo "analysis alone: $A_MSGS messages, $A_FINDINGS findings in $A_CPU s CPU" >&2

# ------------------------------------------------------------------ bulletin
: >"$OUT/runs.txt"
for r in $(seq "$RUNS"); do
	rm -f "$DBF" "$DBF-wal" "$DBF-shm"
	cp "$SNAP" "$DBF"
	rm -rf "$MAILDIRS/run"
	cp -r "$MAILDIRS/reports" "$MAILDIRS/run"
	sync
	/usr/bin/time -f "%e %U %S %M" -o "$OUT/bulletin-$r.time" \
		"$B" bounce --maildir "$MAILDIRS/run" --json >"$OUT/bulletin-$r.json" 2>>"$OUT/commands.log" ||
		fail "bulletin bounce exited $? (see $OUT/commands.log)"
	read -r wall u s kb <"$OUT/bulletin-$r.time"
	cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')
	echo "$wall $cpu $kb" >>"$OUT/runs.txt"
	# the outcome counts, the rows per class and the recipients against the generator's
	for k in handled kept findings recorded duplicates review disabled unsubscribed probes; do
		got=$(jq -r ".$k" "$OUT/bulletin-$r.json")
		want=$(jq -r ".$k" "$OUT/expected.json")
		[ "$got" = "$want" ] || fail "run $r: $k is $got, the generator made $want (see $OUT/bulletin-$r.json)"
	done
	sqlite3 -json "$DBF" "SELECT class, count(*) AS n FROM bounces GROUP BY class" |
		jq -S 'map({(.class): .n}) | add' >"$OUT/classes-$r.json"
	jq -S .classes "$OUT/expected.json" | cmp -s - "$OUT/classes-$r.json" ||
		fail "run $r: rows per class $(jq -c . "$OUT/classes-$r.json"), the generator made $(jq -c .classes "$OUT/expected.json")"
	wrong=$(sqlite3 "$DBF" "SELECT count(*) FROM bounces b JOIN subscribers s ON s.id = b.subscriber_id WHERE lower(b.recipient) <> s.email_key")
	[ "$wrong" -eq 0 ] || fail "run $r: $wrong findings name another recipient than their subscriber"
	left=$(find "$MAILDIRS/run" -type f | wc -l)
	[ "$left" -eq 0 ] || fail "run $r: $left files left in the maildir"
	echo "run $r: $wall s wall, $cpu s CPU, peak RSS $kb KB: $(jq -c . "$OUT/bulletin-$r.json")" >&2
done
B_WALL=$(cut -d' ' -f1 "$OUT/runs.txt" | median)
B_CPU=$(cut -d' ' -f2 "$OUT/runs.txt" | median)
B_KB=$(cut -d' ' -f3 "$OUT/runs.txt" | sort -n | tail -1)
B_RANGE=$(awk -v n="$REPORTS" '{ r = n / $1; if (NR == 1 || r < lo) lo = r; if (NR == 1 || r > hi) hi = r }
	END { printf "%.0f-%.0f", lo, hi }' "$OUT/runs.txt")

# ------------------------------------------------------------------- summary
jq -r '"   outcomes  handled \(.handled), kept \(.kept), findings \(.findings): recorded \(.recorded) (review \(.review)), duplicates \(.duplicates); disabled \(.disabled), unsubscribed \(.unsubscribed), probes \(.probes)"' \
	"$OUT/bulletin-1.json" >"$TMP/outcomes"
awk -v n="$REPORTS" -v subs="$N" -v mb="$REPORT_BYTES" -v runs="$RUNS" -v bw="$B_WALL" -v bc="$B_CPU" \
	-v kb="$B_KB" -v range="$B_RANGE" -v aw="$A_WALL" -v ac="$A_CPU" -v rw="$R_WALL" -v rc="$R_CPU" \
	-v rkb="$R_KB" -v mix="$(jq -c .mix "$OUT/expected.json")" -v classes="$(jq -c .classes "$OUT/expected.json")" \
	-v cores="$(nproc)" -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
	printf "bench/bounce.sh  %d cores, load %s at the end\n", cores, load;
	printf "%d reports (%.0f MB) about a post to %d subscribers (SQLite on disk, maildir on a RAM disk)\n", n, mb / 1e6, subs;
	printf "   mix %s\n", mix;
	printf "1. bulletin bounce --maildir --json   %7.0f msgs/s  (median of %d: %.2f s wall; runs %s msgs/s)\n", n / bw, runs, bw, range;
	printf "                                      %7.0f msgs/CPU-s (%.2f s CPU)   peak RSS %.1f MB\n", n / bc, bc, kb / 1024;
	printf "2. bl_bounce_analyze alone (no store) %7.0f msgs/CPU-s (%.2f s CPU)\n", n / ac, ac;
	printf "3. python3 email (policy.default)     %7.0f msgs/s  (%.2f s wall)\n", n / rw, rw;
	printf "                                      %7.0f msgs/CPU-s (%.2f s CPU)   peak RSS %.1f MB\n", n / rc, rc, rkb / 1024;
	printf "   ratio bulletin/python              %7.2f  (CPU: %.2f)\n", rw / bw, rc / bc;
	printf "   target >= 5,000 msgs/s: %s\n", (n / bw >= 5000 ? "met" : "NOT met");
	printf "   rows per class %s (as generated)\n", classes;
}' | tee "$SUMMARY"
tee -a "$SUMMARY" <"$TMP/outcomes"
