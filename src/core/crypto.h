/*
 * The few cryptographic primitives the domain needs, on libsodium (the only
 * module that includes sodium.h): the suppression hash of an address and
 * the installation's secret key; HMAC tokens for links (unsubscribe,
 * preferences, confirm) and VERP envelope senders; the publisher tools'
 * passwords (argon2id), random secrets (session ids, CSRF tokens, API
 * tokens, generated passwords) and the SHA-256 under which the store keeps
 * session ids and API tokens.
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

/*
 * bl_secret_random - fill @out with a new random 256-bit key (libsodium's
 * CSPRNG), never stored anywhere: a throwaway secret for a preview, whose
 * links (unsubscribe, preferences, confirm, VERP) look real but never
 * verify against the installation's key. Wipe it with bl_memzero when
 * done. Aborts if libsodium cannot start.
 */
void bl_secret_random(struct bl_secret *out);

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

/* ---- the publisher tools (issue 5) ---- */

/* Bytes of a password hash with its NUL (libsodium's crypto_pwhash_STRBYTES). */
#define BL_PASSWORD_HASH_MAX 128
/* Bytes of a password: longer ones are refused (nobody types them; they only cost time). */
#define BL_PASSWORD_MAX 1024
/* Bytes of a password a person chooses, at least (NIST SP 800-63B §5.1.1.2). */
#define BL_PASSWORD_MIN 8

/*
 * bl_password_hash - hash @password (@len bytes, any bytes) with argon2id
 * (crypto_pwhash_str: a random salt, opslimit and memlimit INTERACTIVE: 2
 * passes over 64 MiB, about 0.1 s, libsodium's setting for online logins)
 * into @out as "$argon2id$v=19$m=65536,t=2,p=1$SALT$HASH" plus NUL.
 * Returns 0; -BL_EINVAL for an empty password or one over BL_PASSWORD_MAX
 * bytes; -BL_ELIMIT when the 64 MiB cannot be had (@out untouched then).
 */
int bl_password_hash(const char *password, size_t len, char out[BL_PASSWORD_HASH_MAX]);

/*
 * bl_password_verify - 1 when @password (@len bytes) matches @hash (made
 * by bl_password_hash, any parameters crypto_pwhash_str_verify knows), 0
 * when it does not, when @hash is malformed or the password over
 * BL_PASSWORD_MAX bytes. With @rehash not NULL, *@rehash is set to 1 on a
 * match when @hash was made with other parameters than today's (the caller
 * may store a new hash), else 0. Takes as long as one bl_password_hash.
 */
int bl_password_verify(const char *hash, const char *password, size_t len, int *rehash);

/*
 * bl_password_dummy_verify - the work of one bl_password_verify against a
 * hash of today's parameters, with no match possible: a login for an
 * unknown name costs what a wrong password costs, so its timing does not
 * tell names apart. The dummy hash is made once per process.
 */
void bl_password_dummy_verify(const char *password, size_t len);

/* Characters of a generated password plus NUL: 24 base64url characters, 144 random bits. */
#define BL_PASSWORD_GEN_LEN 25

/*
 * bl_password_generate - a new random password: 24 characters of
 * [A-Za-z0-9_-] (base64url of 18 bytes from libsodium's CSPRNG, 144 bits),
 * never starting with '-' (so it is never taken for an option). Writes
 * BL_PASSWORD_GEN_LEN bytes with the NUL into @out.
 */
void bl_password_generate(char out[BL_PASSWORD_GEN_LEN]);

/* An API token: "blt_" and 43 base64url characters (32 random bytes), plus NUL. */
#define BL_API_TOKEN_PREFIX "blt_"
#define BL_API_TOKEN_LEN    48

/*
 * bl_api_token_generate - a new API token, "blt_" + base64url (no padding)
 * of 32 bytes from libsodium's CSPRNG (256 bits), into @out (BL_API_TOKEN_LEN
 * bytes with the NUL). The prefix lets secret scanners and people
 * recognise it.
 */
void bl_api_token_generate(char out[BL_API_TOKEN_LEN]);

/* A random id (session cookie value, CSRF token): 43 base64url characters (256 bits) + NUL. */
#define BL_RANDOM_ID_LEN 44

/* bl_random_id - 32 bytes from libsodium's CSPRNG as 43 characters of base64url (no
 * padding) and a NUL, into @out. */
void bl_random_id(char out[BL_RANDOM_ID_LEN]);

/* bl_random_id_valid - 1 when @s is 43 characters of [A-Za-z0-9_-] (the shape of
 * bl_random_id's output; says nothing of whether it was issued), else 0. NULL: 0. */
int bl_random_id_valid(const char *s);

/* bl_memzero - overwrite the @n bytes at @p with zeros, in a way the compiler cannot drop
 * (sodium_memzero): for passwords and secrets about to go out of scope. */
void bl_memzero(void *p, size_t n);

/*
 * bl_sha256_hex - the SHA-256 (FIPS 180-4) of the @n bytes at @p as 64
 * lowercase hex digits and a NUL in @out: the key under which the store
 * keeps a session id or an API token (both 256-bit random secrets, so a
 * fast unsalted hash is enough: nobody can guess one to match).
 */
void bl_sha256_hex(const void *p, size_t n, char out[BL_HASH_HEX]);

/*
 * bl_hmac_sha256 - HMAC-SHA-256 (RFC 2104, FIPS 180-4) of the @len bytes at @msg under the
 * @key_len bytes of @key (any length), as 32 binary bytes into @out. Webhook signatures
 * (Mailgun's signing key) use it.
 */
void bl_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
                    unsigned char out[32]);

/*
 * bl_base64_decode - decode the @len characters at @s, standard base64 with padding
 * (RFC 4648 section 4; spaces and line breaks between characters are skipped), into at
 * most @max bytes at @out, the count in *@n. Returns 0, or -BL_EINVAL when @s is not base64
 * or decodes to more than @max bytes (@out contents then undefined, *@n untouched).
 */
int bl_base64_decode(const char *s, size_t len, unsigned char *out, size_t max, size_t *n);

#endif
