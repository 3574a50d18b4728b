#!/bin/bash
# Admin benchmark: the subscriber pages and the API's listings at N
# subscribers (default 1,000,000) and at SMALL (10,000), against nginx, in
# one run. Issue 5: "search and page through a million quickly - every page
# costs O(page size); counts are maintained, never a COUNT(*)".
#
#   1. Two fresh SQLite databases (N and SMALL subscribers), each built with
#      `bulletin import --confirmed` of bench/import.sh's CSV (the same
#      generator; bench/out/import-N.csv is reused when present), its rows
#      dealt round-robin to three lists (news, offers, events) imported one
#      after the other: news holds the first third of the ids, events the
#      last (the list filter is measured on events: a walk of the ids in
#      order that skips other lists' rows would cost 2N/3 rows there). One
#      post to `news` is queued (`post send`
#      without --wait, nothing delivers it: N/3 pending delivery rows), which
#      the dashboard's "recent posts with delivery counts" reads. About 60
#      subscribers spread over the ids are blocklisted (an UPDATE through
#      sqlite3: the schema's triggers keep the counts).
#   2. `bulletin user add bench --role admin --generate`, `bulletin token
#      create bench --role viewer`; `bulletin serve --no-engine` on a free
#      127.0.0.1 port (http_threads = HTTP_THREADS, default 2: one per core);
#      one login with curl (POST /admin/login) for the session cookie.
#   3. wrk (-H "Cookie: ..." or -H "Authorization: Bearer ...") on each page:
#      the dashboard /admin; /admin/subscribers (first page, a deep page: the
#      "next" link of the page after id N-120, a prefix search q=reader.0001,
#      list=events first and deep, and status=blocklisted); GET
#      /api/v1/subscribers?limit=50 (first page, a deep cursor: the "next" of
#      the page after id N-120, and prefix=reader.0001); GET /api/v1/lists
#      (maintained counts). Each page is fetched once first and checked (200,
#      50 rows, a next link; the dashboard shows the queued post). Prints
#      req/s, p50/p99 latency and the server's CPU per request at both sizes,
#      and the ratio N/SMALL of the CPU per request (and of req/s): near 1
#      when a page costs O(page size), not O(table).
#   4. Reference: a private nginx (its own config and prefix in a temporary
#      directory, `daemon off`, the current user; never the system service)
#      serving a static file with the bytes of bulletin's first subscribers
#      page at N, loaded the same way; prints both rates and the ratio.
#
#   bench/admin.sh [N [SMALL]]   (uses ./build/bulletin; builds it if missing)
# Environment: WRK_THREADS (2), WRK_CONNECTIONS (8), WRK_DURATION (5s),
# WRK_TIMEOUT (10s), HTTP_THREADS (2), BENCH_TMPDIR (where the databases go,
# default /tmp), BENCH_KEEP_DB=1 (build the databases in bench/out/admin/db
# and reuse them on the next run: the import of N rows takes about a minute).
# Results: bench/out/admin/ (wrk outputs, pages, server logs, EXPLAIN QUERY
# PLAN of the listing queries) and bench/out/admin.txt (the summary). Needs
# wrk, nginx (nginx-light), curl, python3, sqlite3. Talks only to 127.0.0.1;
# stops every server it starts, also on failure or Ctrl-C.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-1000000}
SMALL=${2:-10000}
THREADS=${WRK_THREADS:-2}
CONNS=${WRK_CONNECTIONS:-8}
DURATION=${WRK_DURATION:-5s}
WRK_TIMEOUT=${WRK_TIMEOUT:-10s}
HTTP_T=${HTTP_THREADS:-2}
B=${BULLETIN:-$ROOT/build/bulletin}
OUT=$ROOT/bench/out/admin
SUMMARY=$ROOT/bench/out/admin.txt
for tool in wrk nginx curl python3 sqlite3 awk; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install wrk nginx-light curl python3 sqlite3 gawk)" >&2; exit 1; }
done
NGINX=$(command -v nginx)
if [ ! -x "$B" ]; then
	(cd "$ROOT" && { [ -d build ] || meson setup build >/dev/null; } && ninja -C build bulletin >/dev/null)
fi
if [ "$N" -lt 2000 ] || [ "$SMALL" -lt 2000 ]; then
	echo "bench: N and SMALL must be 2000 or more (the search reader.0001 wants 50 rows)" >&2
	exit 1
fi
mkdir -p "$OUT"
find "$OUT" -maxdepth 1 -type f -delete
TMP=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/bl-bench-admin-XXXXXX")
if [ "${BENCH_KEEP_DB:-0}" = 1 ]; then
	DBDIR=$OUT/db
else
	DBDIR=$TMP/db
fi
mkdir -p "$DBDIR"

pids=()
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_traps bench/admin.sh

# wrk_run NAME URL [HEADER]: wrk with the common settings; output in
# $OUT/wrk-NAME.txt. Sets RPS, REQS, BAD (non-2xx/3xx), ERRS (socket errors),
# P50, P99 (latency, ms), US (the server's CPU time per request, µs: the
# processes in SERVER_PIDS, user + system).
wrk_run() {
	local name=$1 url=$2 extra=()
	[ $# -gt 2 ] && extra=(-H "$3")
	local c0 c1
	c0=$(cpu_ms "${SERVER_PIDS[@]}")
	wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout "$WRK_TIMEOUT" --latency "${extra[@]}" "$url" \
		>"$OUT/wrk-$name.txt" 2>&1
	c1=$(cpu_ms "${SERVER_PIDS[@]}")
	read -r RPS REQS BAD ERRS P50 P99 < <(awk '
		function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
		/Requests\/sec:/ { rps = $2 }
		/requests in/ { reqs = $1 }
		/Non-2xx or 3xx responses:/ { bad = $NF }
		/Socket errors:/ { for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { v = $i; sub(/,/, "", v); errs += v } }
		$1 == "50%" { p50 = ms($2) }
		$1 == "99%" { p99 = ms($2) }
		END { printf "%.0f %d %d %d %.2f %.2f\n", rps, reqs, bad, errs, p50, p99 }' "$OUT/wrk-$name.txt")
	US=$(awk -v ms="$((c1 - c0))" -v n="$REQS" 'BEGIN { printf "%.0f", (n > 0 ? ms * 1000 / n : 0) }')
}

# gen_csv N FILE: bench/import.sh's rows (the same generator, the same file).
gen_csv() {
	awk -v n="$1" 'BEGIN {
		print "email,name,city,plan";
		srand(42);
		split("Paris,Lyon,Berlin,Madrid,Rome,Oslo,Lisbon,Vienna", cities, ",");
		for (i = 0; i < n; i++) {
			k = (i * 7919 + 104729) % n;
			printf "Reader.%07d@Example%d.org,Reader %d,%s,%s\n", k, k % 13, k, cities[k % 8 + 1], (k % 5 ? "free" : "pro");
		}
	}' >"$2"
}

LISTS=(news offers events)

# build_db N: the database of N subscribers in $DBDIR/N/ (kept with
# BENCH_KEEP_DB=1 once complete: the file "ready" marks it). Prints nothing.
build_db() {
	local n=$1 dir=$DBDIR/$1 csv i t0 t1
	if [ -f "$dir/ready" ]; then
		echo "setup: reusing $dir" >&2
		return 0
	fi
	rm -rf "$dir"
	mkdir -p "$dir"
	csv=$ROOT/bench/out/import-$n.csv
	if [ ! -s "$csv" ]; then
		echo "setup: generating $n rows into $csv" >&2
		gen_csv "$n" "$csv"
	fi
	cat >"$dir/bulletin.conf" <<EOF
db = sqlite:$dir/bulletin.db
public_url = http://127.0.0.1:1
site_name = Bench Letters
from = Bench Letters <letters@bench.example>
postal_address = 1 Quay Street, Harbour Town
relay = maildir:$dir/outbox
log_level = warn
EOF
	local bc=("$B" --config "$dir/bulletin.conf")
	"${bc[@]}" init >/dev/null
	for i in 0 1 2; do
		"${bc[@]}" list create "${LISTS[$i]}" --name "Bench ${LISTS[$i]}" >/dev/null
		awk -v i="$i" 'NR == 1 || (NR - 2) % 3 == i' "$csv" >"$dir/part-$i.csv"
	done
	t0=$(date +%s.%N)
	for i in 0 1 2; do
		"${bc[@]}" import "$dir/part-$i.csv" --list "${LISTS[$i]}" --confirmed --quiet >"$dir/import-$i.out"
		rm -f "$dir/part-$i.csv"
	done
	t1=$(date +%s.%N)
	printf '# Week 1\n\nThe ferry kept its timetable all week.\n' >"$dir/post.md"
	local id
	id=$("${bc[@]}" post create --list news --subject "Bench week 1" --body-file "$dir/post.md")
	"${bc[@]}" post send "$id" >/dev/null
	local every=$((n / 60))
	sqlite3 "$dir/bulletin.db" "UPDATE subscribers SET status = 'blocklisted', status_reason = 'bench' WHERE id % $every = 7"
	"${bc[@]}" user add bench --role admin --generate | awk '{ w = $NF } END { print w }' >"$dir/password"
	"${bc[@]}" token create bench --role viewer | awk '{ w = $NF } END { print w }' >"$dir/token"
	awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "setup: %d subscribers imported in %.1f s (%.0f rows/s, 3 imports into 3 lists)\n", n, b - a, n / (b - a) }' >&2
	touch "$dir/ready"
}

# count_rows FILE: the subscriber rows of an admin page or the items of an API page.
count_rows() {
	python3 - "$1" <<'PY'
import json, re, sys
t = open(sys.argv[1], encoding="utf-8").read()
if t.lstrip().startswith("{"):
    print(len(json.loads(t).get("items", [])))
else:
    print(len(set(re.findall(r'/admin/subscribers/([0-9]+)"', t))))
PY
}
# next_link FILE: the next page's path (admin: the href with after=/after_key=; API: "next").
next_link() {
	python3 - "$1" <<'PY'
import html, json, re, sys, urllib.parse
t = open(sys.argv[1], encoding="utf-8").read()
if t.lstrip().startswith("{"):
    print(json.loads(t).get("next") or "")
else:
    m = re.search(r'href="([^"]*/admin/subscribers\?[^"]*&amp;after(?:_key)?=[^"]*)"', t)
    u = urllib.parse.urlsplit(html.unescape(m.group(1))) if m else None
    print(u.path + "?" + u.query if u else "")
PY
}
# api_cursor ID: the API's id cursor for "after ID" (hex of "i:ID").
api_cursor() {
	printf 'i:%s' "$1" | od -An -tx1 | tr -d ' \n'
}

# measure N: serve the database of N subscribers and load each page; the
# results go to R_<page>_<N>_{rps,p50,p99,us,bytes}.
declare -A R
PAGES=(dashboard subs subs_deep subs_search subs_list subs_list_deep subs_blocked api_subs api_subs_deep api_search api_lists)
declare -A LABEL=(
	[dashboard]="GET /admin (dashboard)"
	[subs]="GET /admin/subscribers"
	[subs_deep]="  deep page (next after id N-120)"
	[subs_search]="  q=reader.0001 (prefix search)"
	[subs_list]="  list=events"
	[subs_list_deep]="  list=events, deep page"
	[subs_blocked]="  status=blocklisted (60 of N)"
	[api_subs]="GET /api/v1/subscribers?limit=50"
	[api_subs_deep]="  deep cursor (next after id N-120)"
	[api_search]="  prefix=reader.0001"
	[api_lists]="GET /api/v1/lists"
)
measure() {
	local n=$1 dir=$DBDIR/$1 port conf serve cookie token auth base deep url p
	port=$(free_port)
	conf=$TMP/serve-$n.conf
	sed "s|^public_url = .*|public_url = http://127.0.0.1:$port|" "$dir/bulletin.conf" >"$conf"
	cat >>"$conf" <<EOF
http_threads = $HTTP_T
http_connections_per_ip = $((CONNS * 2 > 64 ? CONNS * 2 : 64))
login_rate_ip = 0
login_rate_user = 0
EOF
	"$B" --config "$conf" serve --no-engine --listen "127.0.0.1:$port" >"$OUT/serve-$n.out" 2>"$OUT/serve-$n.err" &
	serve=$!
	pids+=("$serve")
	base=http://127.0.0.1:$port
	wait_http "$base/healthz" 30
	# one login: the login page's nonce (cookie + field), then the session cookie
	nonce=$(curl -s -c "$TMP/jar-$n" "$base/admin/login" |
		sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -n 1)
	curl -s -o /dev/null -b "$TMP/jar-$n" -c "$TMP/jar-$n" --data-urlencode "name=bench" \
		--data-urlencode "password=$(cat "$dir/password")" --data-urlencode "csrf=$nonce" \
		"$base/admin/login"
	cookie=$(awk '$6 == "bl_admin" && $0 !~ /^# / { c = $6 "=" $7 } END { print c }' "$TMP/jar-$n")
	[ -n "$cookie" ] || { echo "bench: no session cookie from POST /admin/login" >&2; exit 1; }
	cookie="Cookie: $cookie"
	token=$(cat "$dir/token")
	auth="Authorization: Bearer $token"

	declare -A path hdr want
	path=([dashboard]="/admin" [subs]="/admin/subscribers" [subs_search]="/admin/subscribers?q=reader.0001"
		[subs_list]="/admin/subscribers?list=events"
		[subs_blocked]="/admin/subscribers?status=blocklisted" [api_subs]="/api/v1/subscribers?limit=50"
		[api_search]="/api/v1/subscribers?limit=50&prefix=reader.0001" [api_lists]="/api/v1/lists")
	# the deep pages: the next link of the page that starts after id n-120
	curl -sf -H "$cookie" -o "$TMP/p" "$base/admin/subscribers?after=$((n - 120))"
	path[subs_deep]=$(next_link "$TMP/p")
	curl -sf -H "$cookie" -o "$TMP/p" "$base/admin/subscribers?list=events&after=$((n - 360))"
	path[subs_list_deep]=$(next_link "$TMP/p")
	curl -sf -H "$auth" -o "$TMP/p" "$base/api/v1/subscribers?limit=50&after=$(api_cursor $((n - 120)))"
	deep=$(next_link "$TMP/p")
	path[api_subs_deep]="/api/v1/subscribers?limit=50&after=$deep"
	for p in "${PAGES[@]}"; do
		case $p in
		api_*) hdr[$p]=$auth ;;
		*) hdr[$p]=$cookie ;;
		esac
		want[$p]=50
	done
	want[dashboard]=0
	want[api_lists]=3
	# each page once: 200 and the rows it should have
	for p in "${PAGES[@]}"; do
		url=$base${path[$p]}
		code=$(curl -s -o "$OUT/page-$p-$n" -w '%{http_code}' -H "${hdr[$p]}" "$url")
		rows=$(count_rows "$OUT/page-$p-$n")
		if [ "$code" != 200 ] || [ "$rows" != "${want[$p]}" ]; then
			echo "bench: $url answered $code with $rows rows (want 200, ${want[$p]}; see $OUT/page-$p-$n)" >&2
			exit 1
		fi
		R[${p}_${n}_bytes]=$(wc -c <"$OUT/page-$p-$n")
	done
	grep -q "Bench week 1" "$OUT/page-dashboard-$n" || { echo "bench: the dashboard shows no recent post" >&2; exit 1; }
	SERVER_PIDS=("$serve")
	for p in "${PAGES[@]}"; do
		wrk_run "$p-$n" "$base${path[$p]}" "${hdr[$p]}"
		R[${p}_${n}_rps]=$RPS R[${p}_${n}_p50]=$P50 R[${p}_${n}_p99]=$P99 R[${p}_${n}_us]=$US
		R[${p}_${n}_bad]=$((BAD + ERRS)) R[${p}_${n}_path]=${path[$p]}
		printf '%-8s %-34s %7s req/s  p50 %7s ms  p99 %7s ms  %6s µs CPU/req  %s bad\n' \
			"$n" "$p" "$RPS" "$P50" "$P99" "$US" "$((BAD + ERRS))" >&2
	done
	stop_pid "$serve"
	# the plans of the listing queries (their text as in src/store/sqlite.c), for the record
	plan_range() { echo "SELECT x.subscriber_id AS sid FROM subscriptions x WHERE x.list_id = 3 AND x.status = '$1' AND x.subscriber_id > 100 AND (NULL IS NULL OR EXISTS (SELECT 1 FROM subscribers t WHERE t.id = x.subscriber_id AND t.status = NULL)) ORDER BY x.subscriber_id LIMIT 51"; }
	sqlite3 "$dir/bulletin.db" >"$OUT/plans-$n.txt" 2>&1 <<SQL || true
.print -- subscribers, all, after id
EXPLAIN QUERY PLAN SELECT s.id FROM subscribers s WHERE (NULL IS NULL OR s.status = NULL) AND s.id > 100 ORDER BY s.id LIMIT 51;
.print -- blocklisted subscribers, after id
EXPLAIN QUERY PLAN SELECT s.id FROM subscribers s WHERE s.status = 'blocklisted' AND s.id > 100 ORDER BY s.id LIMIT 51;
.print -- subscribers of a list, after id
EXPLAIN QUERY PLAN SELECT s.id FROM (SELECT * FROM ($(plan_range unconfirmed)) UNION ALL SELECT * FROM ($(plan_range confirmed)) UNION ALL SELECT * FROM ($(plan_range unsubscribed))) p JOIN subscribers s ON s.id = p.sid ORDER BY p.sid LIMIT 51;
.print -- prefix search
EXPLAIN QUERY PLAN SELECT s.id FROM subscribers s WHERE s.email_key >= 'reader.0001' AND s.email_key < 'reader.0002' AND +s.email_key > '' AND (NULL IS NULL OR s.status = NULL) AND (0 = 0 OR EXISTS (SELECT 1 FROM subscriptions x WHERE x.subscriber_id = s.id AND x.list_id = 0 AND (NULL IS NULL OR x.status = NULL))) ORDER BY s.email_key LIMIT 51;
.print -- a post's delivery counts (the dashboard, per recent post)
EXPLAIN QUERY PLAN SELECT state, count(*) FROM deliveries WHERE post_id = 1 GROUP BY state;
SQL
}

echo "bench/admin.sh: N=$N, SMALL=$SMALL; wrk -t$THREADS -c$CONNS -d$DURATION; http_threads $HTTP_T; $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
build_db "$SMALL"
build_db "$N"
measure "$SMALL"
measure "$N"

# ---------------------------------------------------------------- nginx
mkdir -p "$TMP/www" "$TMP/nginx"
cp "$OUT/page-subs-$N" "$TMP/www/subscribers.html"
NPORT=$(free_port)
user_line=
[ "$(id -u)" -eq 0 ] && user_line="user root;" # workers as the current user, not nobody
cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
$user_line
worker_processes auto;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $TMP/nginx/body;
	proxy_temp_path $TMP/nginx/proxy;
	fastcgi_temp_path $TMP/nginx/fastcgi;
	uwsgi_temp_path $TMP/nginx/uwsgi;
	scgi_temp_path $TMP/nginx/scgi;
	types { text/html html; }
	charset utf-8;
	server {
		listen 127.0.0.1:$NPORT;
		root $TMP/www;
		location = /admin/subscribers { try_files /subscribers.html =404; }
	}
}
EOF
"$NGINX" -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" &
NGINX_PID=$!
pids+=("$NGINX_PID")
wait_http "http://127.0.0.1:$NPORT/admin/subscribers" 30
cmp -s "$TMP/www/subscribers.html" <(curl -sf "http://127.0.0.1:$NPORT/admin/subscribers") ||
	{ echo "bench: nginx does not serve the same bytes" >&2; exit 1; }
mapfile -t SERVER_PIDS < <(echo "$NGINX_PID"; pgrep -P "$NGINX_PID")
NGINX_WORKERS=$((${#SERVER_PIDS[@]} - 1))
wrk_run nginx "http://127.0.0.1:$NPORT/admin/subscribers"
NG_RPS=$RPS NG_P50=$P50 NG_P99=$P99 NG_US=$US
stop_pid "$NGINX_PID"
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- summary
{
	printf 'bench/admin.sh  wrk -t%s -c%s -d%s on 127.0.0.1, %s cores (load average %s at the start, %s at the end)\n' \
		"$THREADS" "$CONNS" "$DURATION" "$(nproc)" "$LOAD0" "$LOAD1"
	printf 'bulletin serve --no-engine, http_threads %s, SQLite in %s; 3 lists, one post queued to news (N/3 pending deliveries); 50 rows a page\n' \
		"$HTTP_T" "${BENCH_TMPDIR:-/tmp}"
	printf '%-36s %21s %21s %18s  %s\n' "" "--- $N ---" "--- $SMALL ---" "" ""
	printf '%-36s %8s %5s %6s %8s %5s %6s %7s %7s  %s\n' page "req/s" p50 p99 "req/s" p50 p99 "CPU x" "req/s x" "(CPU µs/req N, SMALL; bytes)"
	for p in "${PAGES[@]}"; do
		awk -v l="${LABEL[$p]}" -v r1="${R[${p}_${N}_rps]}" -v a1="${R[${p}_${N}_p50]}" -v b1="${R[${p}_${N}_p99]}" \
			-v u1="${R[${p}_${N}_us]}" -v r2="${R[${p}_${SMALL}_rps]}" -v a2="${R[${p}_${SMALL}_p50]}" \
			-v b2="${R[${p}_${SMALL}_p99]}" -v u2="${R[${p}_${SMALL}_us]}" -v by="${R[${p}_${N}_bytes]}" \
			-v bad=$((R[${p}_${N}_bad] + R[${p}_${SMALL}_bad])) 'BEGIN {
			printf "%-36s %8.0f %5.1f %6.1f %8.0f %5.1f %6.1f %7.2f %7.2f  (%d, %d; %d B)%s\n", l, r1, a1, b1, r2, a2, b2,
				(u2 > 0 ? u1 / u2 : 0), (r2 > 0 ? r2 / r1 : 0), u1, u2, by, (bad ? sprintf(" %d non-2xx/errors!", bad) : "");
		}'
	done
	echo "(p50/p99 in ms; CPU x = CPU per request at N / at SMALL, req/s x = req/s at SMALL / at N: both near 1 when a page is O(page size))"
	awk -v r="${R[subs_${N}_rps]}" -v p50="${R[subs_${N}_p50]}" -v p99="${R[subs_${N}_p99]}" -v us="${R[subs_${N}_us]}" \
		-v ng="$NG_RPS" -v n50="$NG_P50" -v n99="$NG_P99" -v nus="$NG_US" -v nw="$NGINX_WORKERS" \
		-v by="${R[subs_${N}_bytes]}" 'BEGIN {
		printf "GET /admin/subscribers at N (%d bytes):\n", by;
		printf "  bulletin serve: %8.0f req/s  (p50 %.2f ms, p99 %.2f ms; %d us CPU per request)\n", r, p50, p99, us;
		printf "  nginx static:   %8.0f req/s  (p50 %.2f ms, p99 %.2f ms; %d us CPU per request; %d workers)\n", ng, n50, n99, nus, nw;
		printf "  ratio bulletin/nginx: %.2f\n", r / ng;
	}'
} | tee "$SUMMARY"
cp "$OUT"/plans-"$N".txt "$OUT/plans.txt" 2>/dev/null || true
