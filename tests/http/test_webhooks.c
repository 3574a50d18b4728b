/*
 * POST /webhooks/PROVIDER (src/http/webhooks.c) over HTTP on 127.0.0.1, on a
 * SQLite database (and, with BL_TEST_PG, a PostgreSQL one): four confirmed
 * subscribers get a post the relay accepted; signed events of each provider
 * (keys and signatures made by the openssl command at set-up) then change
 * their state, and forged, unsigned or stale ones are answered 401 with the
 * database unchanged. No certificate or SubscribeURL is ever fetched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/crypto.h"
#include "http/web.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/time.h"

#include "lib.h"

#ifndef BL_TEST_BACKEND
#define BL_TEST_BACKEND "sqlite"
#endif

static const char TOPIC[] = "arn:aws:sns:us-east-1:123456789012:bulletin-ses";
static const char MG_KEY[] = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";

static struct tl_db tdb;
static struct bl_config *cfg;
static struct bl_store *db;
static struct bl_web web;
static struct bl_http_server *srv;
static int port;
static int64_t list_news, post_id;

/* ---- openssl helpers (the code under test signs nothing) ---- */

static const char *path(const char *name)
{
	static char p[16][512];
	static int i;
	i = (i + 1) % 16;
	snprintf(p[i], sizeof(p[i]), "%s/%s", tdb.dir, name);
	return p[i];
}

static void run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

static char *slurp(const char *file)
{
	FILE *f = fopen(file, "rb");
	if (!f)
		fail_msg("cannot open %s", file);
	char buf[8192];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	return strdup(buf);
}

static void spit(const char *file, const char *data)
{
	FILE *f = fopen(file, "wb");
	assert_non_null(f);
	fputs(data, f);
	fclose(f);
}

static char *sign(const char *key_name, const char *digest, const char *data)
{
	char key[512];
	snprintf(key, sizeof(key), "%s", path(key_name));
	spit(path("data"), data);
	run("openssl dgst -%s -sign %s -out %s %s && base64 -w0 %s > %s", digest, key,
	    path("sig.bin"), path("data"), path("sig.bin"), path("sig.b64"));
	return slurp(path("sig.b64"));
}

/* ---- set-up ---- */

static void set(const char *k, const char *v)
{
	struct bl_diag d;
	if (bl_config_set(cfg, k, v, BL_ORIGIN_FLAG, "test", &d))
		fail_msg("config %s: %s", k, d.msg);
}

static const char *const people[] = {"alice@example.com", "bob@example.com", "carol@example.com",
                                     "dave@example.com", "erin@example.com"};
#define N_PEOPLE (sizeof(people) / sizeof(people[0]))

static int group_setup(void **state)
{
	(void)state;
	struct bl_diag d;
	if (tl_db_create(BL_TEST_BACKEND, "webhooks", &tdb))
		return -1;
	run("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
	    "-subj /CN=sns.us-east-1.amazonaws.com -keyout sns.key -out sns.pem >/dev/null 2>&1 && "
	    "openssl ecparam -name prime256v1 -genkey -noout -out sg.key && "
	    "openssl ec -in sg.key -pubout -outform DER 2>/dev/null | base64 -w0 > sg.pub",
	    tdb.dir);
	cfg = bl_config_create();
	set("db", tdb.uri);
	set("from", "Test News <news@bulletin.test>");
	set("public_url", "http://bulletin.test");
	set("log_level", "error");
	set("webhook_sns_topic", TOPIC);
	set("webhook_sns_cert", path("sns.pem"));
	set("webhook_postmark_auth", "bulletin:s3cret");
	char *pub = slurp(path("sg.pub"));
	set("webhook_sendgrid_key", pub);
	free(pub);
	set("webhook_mailgun_key", MG_KEY);

	struct bl_store_opts so = {.busy_timeout_ms = 10000};
	if (bl_store_open(tdb.uri, &so, &db, &d)) {
		fprintf(stderr, "%s\n", d.msg);
		return -1;
	}
	int from, to;
	char key[BL_HASH_HEX];
	bl_secret_generate(key);
	if (db->ops->migrate(db, &from, &to) || db->ops->setting_set(db, "secret_key", key))
		return -1;
	struct bl_list l = {.slug = "news",
	                    .name = "News",
	                    .description = "",
	                    .optin = BL_OPTIN_SINGLE,
	                    .visibility = BL_VISIBILITY_PUBLIC};
	if (db->ops->list_create(db, &l))
		return -1;
	list_news = l.id;
	int64_t now = bl_now();
	for (size_t i = 0; i < N_PEOPLE; i++) {
		struct bl_import_change c = {
		    .insert_subscriber = 1,
		    .insert_subscription = 1,
		    .email = people[i],
		    .email_key = people[i],
		    .name = "",
		    .attributes = "{}",
		    .status = BL_SUBSCRIBER_ACTIVE,
		    .status_reason = "",
		    .created_at = now - 60,
		    .sub_created_at = now - 60,
		    .updated_at = now - 60,
		    .list_id = list_news,
		    .sub_status = BL_SUB_CONFIRMED,
		    .mode = BL_MODE_INSTANT,
		    .n_events = 1,
		    .events = {{.list_id = list_news,
		                .kind = BL_CONSENT_IMPORT,
		                .at = now - 60,
		                .source = "import:t"}},
		};
		if (db->ops->import_apply(db, 1, &c))
			return -1;
	}
	/* A post the relay accepted for everyone. */
	struct bl_post p = {.subject = "Breaking",
	                    .body = "Hello",
	                    .from_header = "",
	                    .priority = BL_PRIORITY_NORMAL,
	                    .status = BL_POST_DRAFT};
	int64_t total = 0;
	if (db->ops->post_create(db, &p, &list_news, 1) ||
	    db->ops->post_queue(db, p.id, now - 30, &total) != 1 || total != (int64_t)N_PEOPLE)
		return -1;
	post_id = p.id;
	struct bl_claimed c[N_PEOPLE];
	struct bl_delivery_result r[N_PEOPLE];
	size_t n = 0;
	if (db->ops->delivery_exchange(db, "test", now - 20, now + 300, NULL, 0, N_PEOPLE, c, &n,
	                               NULL, NULL) ||
	    n != N_PEOPLE)
		return -1;
	for (size_t i = 0; i < n; i++) {
		r[i] = (struct bl_delivery_result){.delivery_id = c[i].delivery_id,
		                                   .state = BL_DELIVERY_ACCEPTED,
		                                   .code = 250,
		                                   .reply = "2.0.0 Ok",
		                                   .queue_id = "Q1",
		                                   .relay = "smtp://127.0.0.1"};
	}
	size_t n2 = 0;
	if (db->ops->delivery_exchange(db, "test", now - 10, now + 300, r, n, 0, NULL, &n2, NULL,
	                               NULL))
		return -1;
	for (size_t i = 0; i < n; i++)
		bl_claimed_clear(&c[i]);

	memset(&web, 0, sizeof(web));
	if (bl_web_init(&web, cfg, db, &d)) {
		fprintf(stderr, "web: %s\n", d.msg);
		return -1;
	}
	size_t nr;
	const struct bl_http_route *routes = bl_web_routes(&nr);
	struct bl_http_opts ho = {.listen = "127.0.0.1:0",
	                          .routes = routes,
	                          .n_routes = nr,
	                          .app = &web,
	                          .db_uri = tdb.uri,
	                          .db_opts = so,
	                          .threads = 2,
	                          .body_max = 65536};
	if (bl_http_start(&ho, &srv, &d)) {
		fprintf(stderr, "server: %s\n", d.msg);
		return -1;
	}
	web.server = srv;
	port = bl_http_port(srv);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	bl_http_stop(srv);
	bl_web_finish(&web);
	bl_store_close(db);
	bl_config_destroy(cfg);
	tl_db_drop(&tdb);
	return 0;
}

/* ---- state ---- */

/* Subscriber @email's status and reason as "status/reason". */
static const char *standing(const char *email, char *buf, size_t size)
{
	struct bl_subscriber s = {0};
	if (db->ops->subscriber_get(db, email, &s) != 1)
		fail_msg("subscriber %s not found", email);
	snprintf(buf, size, "%s/%s", bl_subscriber_status_name(s.status), s.status_reason);
	bl_subscriber_clear(&s);
	return buf;
}

static int count_row(void *arg, const struct bl_bounce_row *row)
{
	(void)row;
	++*(int *)arg;
	return 0;
}

static int bounce_rows(void)
{
	int n = 0;
	struct bl_bounce_filter f = {0};
	if (db->ops->bounce_each(db, &f, count_row, &n))
		fail_msg("bounce_each failed");
	return n;
}

/* Everyone's standing and the bounce rows, as one string to compare before and after. */
static void snapshot(char *out, size_t size)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	char s[128];
	for (size_t i = 0; i < N_PEOPLE; i++)
		bl_buf_addf(&b, "%s %s; ", people[i], standing(people[i], s, sizeof(s)));
	bl_buf_addf(&b, "rows %d", bounce_rows());
	snprintf(out, size, "%s", bl_buf_str(&b));
	bl_buf_finish(&b);
}

static void post(const char *provider, const char *body, struct curl_slist *h, struct reply *r)
{
	char p[64];
	snprintf(p, sizeof(p), "/webhooks/%s", provider);
	struct curl_slist *all = curl_slist_append(NULL, "Content-Type: application/json");
	for (struct curl_slist *x = h; x; x = x->next)
		all = curl_slist_append(all, x->data);
	struct tl_request q = {.path = p, .body = body, .body_len = strlen(body), .hdrs = all};
	tl_fetch(port, &q, r);
	curl_slist_free_all(all);
}

/* ---- signed bodies ---- */

/* A Mailgun webhook body signed with @key at @ts under token @token, about @email, whose
   message carries Message-ID @msgid. */
static char *mailgun(const char *event, const char *email, const char *id, const char *key,
                     int64_t ts, const char *token, const char *msgid)
{
	char tss[32], data[128];
	snprintf(tss, sizeof(tss), "%lld", (long long)ts);
	snprintf(data, sizeof(data), "%s%s", tss, token);
	spit(path("data"), data);
	run("openssl dgst -sha256 -mac HMAC -macopt key:%s -r %s | cut -d' ' -f1 > %s", key,
	    path("data"), path("mac"));
	char *mac = slurp(path("mac"));
	struct bl_buf b;
	bl_buf_init(&b, 0);
	bl_buf_addf(
	    &b,
	    "{\"signature\":{\"timestamp\":\"%s\",\"token\":\"%s\",\"signature\":\"%s\"},"
	    "\"event-data\":{\"event\":\"%s\",\"id\":\"%s\",\"severity\":\"permanent\","
	    "\"reason\":\"bounce\",\"recipient\":\"%s\",\"delivery-status\":{\"code\":550,"
	    "\"message\":\"5.1.1 The email account that you tried to reach does not exist\"},"
	    "\"message\":{\"headers\":{\"message-id\":\"%s\"}}}}",
	    tss, token, mac, event, id, email, msgid);
	free(mac);
	return bl_buf_take(&b);
}

/* The Message-ID bulletin gives the post's message to @email (src/send/compose.c). */
static void our_msgid(const char *email, char *out, size_t size)
{
	struct bl_subscriber s = {0};
	if (db->ops->subscriber_get(db, email, &s) != 1)
		fail_msg("subscriber %s not found", email);
	char tok[BL_VERP_TOKEN_MAX];
	bl_verp_token(&web.secret, post_id, s.id, tok);
	bl_subscriber_clear(&s);
	snprintf(out, size, "<bulletin-%s.1@bulletin.test>", tok);
}

static char *sns(const char *message, const char *topic, const char *timestamp)
{
	const char *id = "6f9b-0001";
	struct bl_buf c;
	bl_buf_init(&c, 0);
	bl_buf_addf(&c,
	            "Message\n%s\nMessageId\n%s\nTimestamp\n%s\nTopicArn\n%s\nType\nNotification\n",
	            message, id, timestamp, topic);
	char *sig = sign("sns.key", "sha256", bl_buf_str(&c));
	bl_buf_finish(&c);
	json_t *j =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Type", "Notification",
	              "MessageId", id, "TopicArn", TOPIC, "Message", message, "Timestamp",
	              timestamp, "SignatureVersion", "2", "Signature", sig, "SigningCertURL",
	              "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem");
	free(sig);
	char *s = json_dumps(j, 0);
	json_decref(j);
	return s;
}

/* ---- tests ---- */

static void test_refused(void **state)
{
	(void)state;
	char before[2048], after[2048], v[256];
	snapshot(before, sizeof(before));
	int64_t now = bl_now();
	struct reply r;

	char *forged = mailgun("failed", "alice@example.com", "mg-1", "key-wrong", now,
	                       "tok-refused-1", "unknown@example.org");
	char *stale = mailgun("failed", "alice@example.com", "mg-1", MG_KEY, now - 3600,
	                      "tok-refused-2", "unknown@example.org");
	char ts[32];
	bl_time_format(now, ts);
	char *other_topic_msg = sns("{\"notificationType\":\"Complaint\",\"complaint\":{"
	                            "\"complainedRecipients\":[{\"emailAddress\":"
	                            "\"carol@example.com\"}]},\"mail\":{}}",
	                            "arn:aws:sns:us-east-1:999999999999:other", ts);
	struct curl_slist *wrong_pw =
	    curl_slist_append(NULL, "Authorization: Basic YnVsbGV0aW46d3Jvbmc=");
	static const char pm[] = "{\"RecordType\":\"Bounce\",\"ID\":42,\"Type\":\"HardBounce\","
	                         "\"TypeCode\":1,\"Email\":\"dave@example.com\",\"Details\":\"550 "
	                         "5.1.1 no such user\"}";
	static const char sg[] = "[{\"email\":\"bob@example.com\",\"event\":\"spamreport\","
	                         "\"sg_event_id\":\"sg-1\",\"timestamp\":1767225590}]";
	const struct {
		const char *what, *provider, *body;
		struct curl_slist *h;
	} cases[] = {
	    {"Mailgun HMAC with another key", "mailgun", forged, NULL},
	    {"Mailgun an hour old", "mailgun", stale, NULL},
	    {"SES from another topic", "ses", other_topic_msg, NULL},
	    {"Postmark wrong password", "postmark", pm, wrong_pw},
	    {"Postmark no credentials", "postmark", pm, NULL},
	    {"SendGrid unsigned", "sendgrid", sg, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		post(cases[i].provider, cases[i].body, cases[i].h, &r);
		tl_want_status(&r, 401, cases[i].what);
		tl_header(&r, "Content-Type", v, sizeof(v));
		if (strcmp(v, "application/problem+json") != 0)
			fail_msg("%s: Content-Type got %s, want application/problem+json",
			         cases[i].what, v);
		reply_free(&r);
	}
	post("sparkpost", "{}", NULL, &r);
	tl_want_status(&r, 404, "unknown provider");
	reply_free(&r);
	post("mailgun", "{\"signature\":", NULL, &r);
	tl_want_status(&r, 400, "malformed JSON");
	reply_free(&r);
	/* A provider that is not configured. */
	set("webhook_postmark_auth", "");
	struct curl_slist *right =
	    curl_slist_append(NULL, "Authorization: Basic YnVsbGV0aW46czNjcmV0");
	post("postmark", pm, right, &r);
	tl_want_status(&r, 404, "Postmark not configured");
	reply_free(&r);
	set("webhook_postmark_auth", "bulletin:s3cret");
	snapshot(after, sizeof(after));
	if (strcmp(before, after) != 0)
		fail_msg("refused requests changed the database:\n got %s\nwant %s", after, before);
	curl_slist_free_all(wrong_pw);
	curl_slist_free_all(right);
	free(forged);
	free(stale);
	free(other_topic_msg);
}

static void test_signed(void **state)
{
	(void)state;
	int64_t now = bl_now();
	char s[128];
	struct reply r;

	/* Mailgun: a permanent failure, with bulletin's Message-ID, disables alice (hard limit
	   1); the same request again is a replay (401, its token seen before); the event
	   redelivered with a new signature is a duplicate. */
	char mid[128];
	our_msgid("alice@example.com", mid, sizeof(mid));
	char *mg = mailgun("failed", "alice@example.com", "mg-hard-1", MG_KEY, now, "tok-1", mid);
	post("mailgun", mg, NULL, &r);
	tl_want_status(&r, 200, "Mailgun hard bounce");
	assert_non_null(r.json);
	assert_int_equal(json_integer_value(json_object_get(r.json, "disabled")), 1);
	reply_free(&r);
	assert_string_equal(standing("alice@example.com", s, sizeof(s)), "blocklisted/bounced");
	int rows = bounce_rows();
	post("mailgun", mg, NULL, &r);
	tl_want_status(&r, 401, "Mailgun replayed request");
	reply_free(&r);
	free(mg);
	mg = mailgun("failed", "alice@example.com", "mg-hard-1", MG_KEY, now, "tok-2", mid);
	post("mailgun", mg, NULL, &r);
	tl_want_status(&r, 200, "Mailgun redelivery");
	assert_int_equal(json_integer_value(json_object_get(r.json, "duplicates")), 1);
	reply_free(&r);
	assert_int_equal(bounce_rows(), rows);
	free(mg);
	/* Mailgun does not sign the event: one naming erin without bulletin's Message-ID goes
	   to review, erin untouched (other providers' events are attributed by recipient). */
	mg = mailgun("complained", "erin@example.com", "mg-c-1", MG_KEY, now, "tok-3",
	             "unknown@example.org");
	post("mailgun", mg, NULL, &r);
	tl_want_status(&r, 200, "Mailgun complaint without our Message-ID");
	assert_int_equal(json_integer_value(json_object_get(r.json, "review")), 1);
	assert_int_equal(json_integer_value(json_object_get(r.json, "unsubscribed")), 0);
	reply_free(&r);
	assert_string_equal(standing("erin@example.com", s, sizeof(s)), "active/");
	free(mg);

	/* SendGrid: a spam report unsubscribes and blocklists bob. */
	char ts[32];
	snprintf(ts, sizeof(ts), "%lld", (long long)now);
	static const char sg[] = "[{\"email\":\"bob@example.com\",\"event\":\"spamreport\","
	                         "\"sg_event_id\":\"sg-spam-1\",\"timestamp\":1767225590},"
	                         "{\"email\":\"erin@example.com\",\"event\":\"open\","
	                         "\"sg_event_id\":\"sg-open-1\",\"timestamp\":1767225590}]";
	struct bl_buf b;
	bl_buf_init(&b, 0);
	bl_buf_addf(&b, "%s%s", ts, sg);
	char *sig = sign("sg.key", "sha256", bl_buf_str(&b));
	bl_buf_finish(&b);
	char h1[600], h2[100];
	snprintf(h1, sizeof(h1), "X-Twilio-Email-Event-Webhook-Signature: %s", sig);
	snprintf(h2, sizeof(h2), "X-Twilio-Email-Event-Webhook-Timestamp: %s", ts);
	struct curl_slist *h = curl_slist_append(curl_slist_append(NULL, h1), h2);
	post("sendgrid", sg, h, &r);
	tl_want_status(&r, 200, "SendGrid spam report");
	assert_int_equal(json_integer_value(json_object_get(r.json, "events")), 1);
	assert_int_equal(json_integer_value(json_object_get(r.json, "unsubscribed")), 1);
	reply_free(&r);
	assert_string_equal(standing("bob@example.com", s, sizeof(s)), "blocklisted/complained");
	assert_string_equal(standing("erin@example.com", s, sizeof(s)), "active/");
	curl_slist_free_all(h);
	free(sig);

	/* SES through SNS: a complaint for carol. */
	char iso[32];
	bl_time_format(now, iso);
	char *ses =
	    sns("{\"notificationType\":\"Complaint\",\"complaint\":{\"complainedRecipients\":"
	        "[{\"emailAddress\":\"carol@example.com\"}],\"complaintFeedbackType\":"
	        "\"abuse\"},\"mail\":{\"destination\":[\"carol@example.com\"]}}",
	        TOPIC, iso);
	post("ses", ses, NULL, &r);
	tl_want_status(&r, 200, "SES complaint");
	reply_free(&r);
	assert_string_equal(standing("carol@example.com", s, sizeof(s)), "blocklisted/complained");
	free(ses);

	/* Postmark: a hard bounce for dave. */
	struct curl_slist *auth =
	    curl_slist_append(NULL, "Authorization: Basic YnVsbGV0aW46czNjcmV0");
	post("postmark",
	     "{\"RecordType\":\"Bounce\",\"ID\":4242,\"Type\":\"HardBounce\",\"TypeCode\":1,"
	     "\"Email\":\"dave@example.com\",\"Details\":\"smtp;550 5.1.1 no such user\"}",
	     auth, &r);
	tl_want_status(&r, 200, "Postmark hard bounce");
	reply_free(&r);
	assert_string_equal(standing("dave@example.com", s, sizeof(s)), "blocklisted/bounced");
	curl_slist_free_all(auth);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_signed),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
