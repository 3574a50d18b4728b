/*
 * The few cryptographic primitives the domain needs, on libsodium (the only
 * module that includes sodium.h): the suppression hash of an address and
 * the installation's secret key. Later: HMAC tokens and password hashes.
 */
#ifndef BL_CORE_CRYPTO_H
#define BL_CORE_CRYPTO_H

#include <stddef.h>

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

#endif
