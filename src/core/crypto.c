/* libsodium-backed primitives; see crypto.h. */
#include "core/crypto.h"

#include "util/log.h"

#include <sodium.h>

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
