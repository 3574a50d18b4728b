/* libsodium-backed primitives; see crypto.h. */
#include "core/crypto.h"

#include "util/err.h"
#include "util/log.h"

#include <sodium.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static void start(void)
{
	if (sodium_init() < 0)
		bl_panic("libsodium failed to initialise");
}

void bl_suppression_hash(const char *email_key, char out[BL_HASH_HEX])
{
	static const char domain[] = "bulletin-suppression";
	unsigned char digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;
	start();
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)domain, sizeof(domain));
	crypto_hash_sha256_update(&st, (const unsigned char *)email_key, strlen(email_key));
	crypto_hash_sha256_final(&st, digest);
	sodium_bin2hex(out, BL_HASH_HEX, digest, sizeof(digest));
}

void bl_secret_generate(char out[BL_HASH_HEX])
{
	unsigned char key[32];
	start();
	randombytes_buf(key, sizeof(key));
	sodium_bin2hex(out, BL_HASH_HEX, key, sizeof(key));
	sodium_memzero(key, sizeof(key));
}

void bl_secret_random(struct bl_secret *out)
{
	start();
	randombytes_buf(out->key, sizeof(out->key));
}

int bl_secret_load(const char *hex, struct bl_secret *out)
{
	struct bl_secret k;
	size_t n = 0;
	const char *end = NULL;
	start();
	if (!hex || strlen(hex) != 64 ||
	    sodium_hex2bin(k.key, sizeof(k.key), hex, 64, NULL, &n, &end) != 0 ||
	    n != sizeof(k.key) || *end)
		return -BL_EINVAL;
	*out = k;
	sodium_memzero(&k, sizeof(k));
	return 0;
}

static void put64(unsigned char *p, int64_t v)
{
	uint64_t u = (uint64_t)v;
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(u & 0xff);
		u >>= 8;
	}
}

static int64_t get64(const unsigned char *p)
{
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u = (u << 8) | p[i];
	return (int64_t)u;
}

#define CLAIMS 24
#define MAC    16

static void token_mac(const struct bl_secret *k, enum bl_token_purpose purpose,
                      const unsigned char *claims, unsigned char mac[MAC])
{
	static const char domain[] = "bulletin-token-v1";
	unsigned char full[crypto_auth_hmacsha256_BYTES];
	unsigned char p = (unsigned char)purpose;
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, k->key, sizeof(k->key));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)domain, sizeof(domain));
	crypto_auth_hmacsha256_update(&st, &p, 1);
	crypto_auth_hmacsha256_update(&st, claims, CLAIMS);
	crypto_auth_hmacsha256_final(&st, full);
	memcpy(mac, full, MAC);
}

int bl_constant_time_eq(const void *a, const void *b, size_t n)
{
	start();
	return sodium_memcmp(a, b, n) == 0;
}

int64_t bl_random_u63(void)
{
	uint64_t v = 0;
	start();
	while ((v >> 1) == 0)
		randombytes_buf(&v, sizeof(v));
	return (int64_t)(v >> 1);
}

void bl_token_make(const struct bl_secret *k, enum bl_token_purpose purpose, int64_t subscriber_id,
                   int64_t list_id, int64_t expires, char out[BL_TOKEN_LEN])
{
	unsigned char raw[CLAIMS + MAC];
	start();
	put64(raw, subscriber_id);
	put64(raw + 8, list_id);
	put64(raw + 16, expires);
	token_mac(k, purpose, raw, raw + CLAIMS);
	sodium_bin2base64(out, BL_TOKEN_LEN, raw, sizeof(raw),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int bl_token_verify(const struct bl_secret *k, enum bl_token_purpose purpose, const char *token,
                    int64_t *subscriber_id, int64_t *list_id, int64_t *expires)
{
	unsigned char raw[CLAIMS + MAC], mac[MAC];
	size_t n = 0;
	const char *end = NULL;
	start();
	/* The alphabet is checked here: libsodium 1.0.18 decodes every byte
	 * 0x80-0xFF as '_' (found by fuzz/fuzz_token.c), which would give a token
	 * many spellings. */
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	if (!token || strlen(token) != BL_TOKEN_LEN - 1 ||
	    strspn(token, alphabet) != BL_TOKEN_LEN - 1)
		return 0;
	if (sodium_base642bin(raw, sizeof(raw), token, BL_TOKEN_LEN - 1, NULL, &n, &end,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    n != sizeof(raw) || *end)
		return 0;
	token_mac(k, purpose, raw, mac);
	if (sodium_memcmp(mac, raw + CLAIMS, MAC) != 0)
		return 0;
	*subscriber_id = get64(raw);
	*list_id = get64(raw + 8);
	*expires = get64(raw + 16);
	return 1;
}

static void verp_mac(const struct bl_secret *k, int64_t post_id, int64_t subscriber_id,
                     char hex[17])
{
	static const char domain[] = "bulletin-verp-v1";
	unsigned char claims[16], full[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	put64(claims, post_id);
	put64(claims + 8, subscriber_id);
	crypto_auth_hmacsha256_init(&st, k->key, sizeof(k->key));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)domain, sizeof(domain));
	crypto_auth_hmacsha256_update(&st, claims, sizeof(claims));
	crypto_auth_hmacsha256_final(&st, full);
	sodium_bin2hex(hex, 17, full, 8);
}

void bl_verp_token(const struct bl_secret *k, int64_t post_id, int64_t subscriber_id,
                   char out[BL_VERP_TOKEN_MAX])
{
	char mac[17];
	start();
	verp_mac(k, post_id, subscriber_id, mac);
	snprintf(out, BL_VERP_TOKEN_MAX, "%lld-%lld-%s", (long long)post_id,
	         (long long)subscriber_id, mac);
}

static int parse_id(const char **p, char stop, int64_t *out)
{
	int64_t v = 0;
	const char *s = *p;
	if (*s < '1' || *s > '9')
		return 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (INT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (*s - '0');
	}
	if (*s != stop)
		return 0;
	*p = s + 1;
	*out = v;
	return 1;
}

int bl_verp_parse(const struct bl_secret *k, const char *token, int64_t *post_id,
                  int64_t *subscriber_id)
{
	int64_t post, sub;
	char want[17], got[17];
	const char *p = token;
	start();
	if (!token || !parse_id(&p, '-', &post) || !parse_id(&p, '-', &sub) || strlen(p) != 16)
		return 0;
	for (int i = 0; i < 16; i++) {
		char c = p[i];
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
		got[i] = c;
	}
	got[16] = 0;
	verp_mac(k, post, sub, want);
	if (sodium_memcmp(want, got, 16) != 0)
		return 0;
	*post_id = post;
	*subscriber_id = sub;
	return 1;
}

/* ---- the publisher tools ---- */

int bl_password_hash(const char *password, size_t len, char out[BL_PASSWORD_HASH_MAX])
{
	char h[crypto_pwhash_STRBYTES];
	_Static_assert(crypto_pwhash_STRBYTES <= BL_PASSWORD_HASH_MAX, "BL_PASSWORD_HASH_MAX");
	start();
	if (len == 0 || len > BL_PASSWORD_MAX)
		return -BL_EINVAL;
	if (crypto_pwhash_str(h, password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
	                      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return -BL_ELIMIT;
	memcpy(out, h, sizeof(h));
	return 0;
}

int bl_password_verify(const char *hash, const char *password, size_t len, int *rehash)
{
	start();
	if (rehash)
		*rehash = 0;
	if (!hash || len > BL_PASSWORD_MAX ||
	    strnlen(hash, crypto_pwhash_STRBYTES) >= crypto_pwhash_STRBYTES)
		return 0;
	if (crypto_pwhash_str_verify(hash, password, len) != 0)
		return 0;
	if (rehash)
		*rehash = crypto_pwhash_str_needs_rehash(hash, crypto_pwhash_OPSLIMIT_INTERACTIVE,
		                                         crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0;
	return 1;
}

static char dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy(void)
{
	char pw[BL_RANDOM_ID_LEN];
	bl_random_id(pw);
	if (crypto_pwhash_str(dummy_hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
	                      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		dummy_hash[0] = 0; /* no memory: the verify below fails fast, as a real one would */
	sodium_memzero(pw, sizeof(pw));
}

void bl_password_dummy_verify(const char *password, size_t len)
{
	start();
	pthread_once(&dummy_once, make_dummy);
	if (dummy_hash[0] && len <= BL_PASSWORD_MAX &&
	    crypto_pwhash_str_verify(dummy_hash, password, len) == 0)
		bl_warn("a password matched the dummy hash"); /* 2^-256: never */
}

/* @n random bytes as base64url without padding into @out (@size bytes, room for the NUL). */
static void random_b64(size_t n, char *out, size_t size)
{
	unsigned char raw[32];
	start();
	randombytes_buf(raw, n);
	sodium_bin2base64(out, size, raw, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

void bl_password_generate(char out[BL_PASSWORD_GEN_LEN])
{
	do
		random_b64(18, out, BL_PASSWORD_GEN_LEN);
	while (out[0] == '-');
}

void bl_api_token_generate(char out[BL_API_TOKEN_LEN])
{
	size_t k = sizeof(BL_API_TOKEN_PREFIX) - 1;
	memcpy(out, BL_API_TOKEN_PREFIX, k);
	random_b64(32, out + k, BL_API_TOKEN_LEN - k);
}

void bl_random_id(char out[BL_RANDOM_ID_LEN])
{
	random_b64(32, out, BL_RANDOM_ID_LEN);
}

int bl_random_id_valid(const char *s)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	return s && strlen(s) == BL_RANDOM_ID_LEN - 1 &&
	       strspn(s, alphabet) == BL_RANDOM_ID_LEN - 1;
}

void bl_sha256_hex(const void *p, size_t n, char out[BL_HASH_HEX])
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	start();
	crypto_hash_sha256(digest, p, n);
	sodium_bin2hex(out, BL_HASH_HEX, digest, sizeof(digest));
}

void bl_memzero(void *p, size_t n)
{
	start();
	sodium_memzero(p, n);
}

void bl_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
                    unsigned char out[32])
{
	crypto_auth_hmacsha256_state st;
	start();
	crypto_auth_hmacsha256_init(&st, key, key_len);
	crypto_auth_hmacsha256_update(&st, msg, len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

int bl_base64_decode(const char *s, size_t len, unsigned char *out, size_t max, size_t *n)
{
	size_t got = 0;
	const char *end = NULL;
	start();
	if (sodium_base642bin(out, max, s, len, " \t\r\n", &got, &end,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != s + len)
		return -BL_EINVAL;
	*n = got;
	return 0;
}
