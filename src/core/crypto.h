/*
 * The few cryptographic primitives the domain needs, on libsodium (the only
 * module that includes sodium.h): the suppression hash of an address and
 * the installation's secret key; HMAC tokens for links (unsubscribe,
 * preferences, confirm) and VERP envelope senders. Later: password hashes.
 */
#ifndef BL_CORE_CRYPTO_H
#define BL_CORE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* Hex SHA-256 digest: 64 characters plus NUL. */
#define BL_HASH_HEX 65

/*
 * bl_suppression_hash - the suppression-list key of an address: hex
 * SHA-256 of "bulletin-suppression\0" followed by @email_key (the
 * lowercased address, struct bl_address.key). Unkeyed on purpose, so a
 * suppression list survives export and restore into another installation.
 * Writes 64 hex digits and a NUL into @out.
 */
void bl_suppression_hash(const char *email_key, char out[BL_HASH_HEX]);

/*
 * bl_secret_generate - a new random 256-bit secret key as 64 hex digits
 * plus NUL in @out (libsodium's CSPRNG). Aborts if libsodium cannot start.
 */
void bl_secret_generate(char out[BL_HASH_HEX]);

/* The secret key in binary, from its hex form in the settings table. */
struct bl_secret {
	unsigned char key[32];
};

/*
 * bl_secret_load - decode @hex (64 hex digits) into @out. Returns 0, or
 * -BL_EINVAL when @hex is not exactly 64 hex digits (@out untouched).
 */
int bl_secret_load(const char *hex, struct bl_secret *out);

/* What a link token allows; a token made for one purpose never verifies for another. */
enum bl_token_purpose {
	BL_TOKEN_UNSUBSCRIBE = 1, /* leave the list named in the token */
	BL_TOKEN_PREFERENCES = 2, /* open the subscriber's preference centre */
	BL_TOKEN_CONFIRM = 3,     /* confirm a double opt-in signup (expires); the list field
	                             holds the confirmation post's id */
	BL_TOKEN_FORM = 4         /* a served signup form: the subscriber field holds a random
	                             nonce (also in a cookie), expires the time it was served */
};

/* bl_constant_time_eq - 1 when the @n bytes at @a and @b are equal, else 0, in time that
 * does not depend on where they differ (sodium_memcmp). */
int bl_constant_time_eq(const void *a, const void *b, size_t n);

/* bl_random_u63 - a uniformly random integer in [1, 2^63 - 1] (libsodium's CSPRNG). */
int64_t bl_random_u63(void);

/* Text length of a token: base64url (no padding) of 24 bytes of claims and a
 * 16-byte MAC, plus NUL. */
#define BL_TOKEN_LEN 55

/*
 * bl_token_make - a URL-safe token binding @purpose, @subscriber_id,
 * @list_id (0: none) and @expires (seconds since the epoch; 0: never):
 * base64url(claims || HMAC-SHA-256(key, "bulletin-token-v1" || purpose ||
 * claims) cut to 16 bytes), claims being the three numbers as 64-bit big
 * endian. Writes BL_TOKEN_LEN bytes (with the NUL) into @out.
 */
void bl_token_make(const struct bl_secret *k, enum bl_token_purpose purpose, int64_t subscriber_id,
                   int64_t list_id, int64_t expires, char out[BL_TOKEN_LEN]);

/*
 * bl_token_verify - check @token for @purpose in constant time (the MAC
 * comparison does not depend on where bytes differ). Returns 1 and sets
 * *@subscriber_id, *@list_id, *@expires when the token is authentic (the
 * caller compares @expires with the clock: an expired token is still
 * authentic, so a page can offer a resend); 0 when it is malformed, forged
 * or made for another purpose (outputs untouched).
 */
int bl_token_verify(const struct bl_secret *k, enum bl_token_purpose purpose, const char *token,
                    int64_t *subscriber_id, int64_t *list_id, int64_t *expires);

/* Length of a VERP token with its NUL: two decimal ids, two '-', 16 hex digits. */
#define BL_VERP_TOKEN_MAX 60

/*
 * bl_verp_token - the token of the VERP envelope sender
 * bounces+TOKEN@bounce_domain naming delivery (@post_id, @subscriber_id):
 * "POST-SUBSCRIBER-MAC", MAC being 16 lowercase hex digits of
 * HMAC-SHA-256(key, "bulletin-verp-v1" || POST || SUBSCRIBER). Lowercase
 * only, since MTAs may fold the case of local parts. Writes into @out.
 */
void bl_verp_token(const struct bl_secret *k, int64_t post_id, int64_t subscriber_id,
                   char out[BL_VERP_TOKEN_MAX]);

/*
 * bl_verp_parse - check a VERP token (case-insensitively) and return 1 with
 * *@post_id and *@subscriber_id set; 0 when it is malformed or forged.
 */
int bl_verp_parse(const struct bl_secret *k, const char *token, int64_t *post_id,
                  int64_t *subscriber_id);

#endif
