/*
 * Public-key signature checks on OpenSSL's libcrypto (the only module that
 * includes an OpenSSL header): RSA PKCS #1 v1.5 signatures against the key
 * of an X.509 certificate (Amazon SNS messages) and ECDSA P-256 signatures
 * against a SubjectPublicKeyInfo key (SendGrid's signed Event Webhook).
 * Verification only: nothing here signs, and no certificate chain is
 * built; the caller decides why it trusts the certificate or key it passes.
 * Thread-safe: every call uses its own OpenSSL objects.
 */
#ifndef BL_CORE_PUBKEY_H
#define BL_CORE_PUBKEY_H

#include <stddef.h>

#include "util/err.h"

/* The digest a signature was made over. */
enum bl_pubkey_hash {
	BL_PUBKEY_SHA1,  /* SNS SignatureVersion 1 (SHA1withRSA) */
	BL_PUBKEY_SHA256 /* SNS SignatureVersion 2 (SHA256withRSA) */
};

/*
 * bl_pubkey_verify_x509_rsa - check the RSASSA-PKCS1-v1_5 signature (RFC 8017 8.2.2)
 * @sig (@sig_len bytes, binary) of the @len bytes at @data, hashed with @alg, against the
 * RSA public key of the PEM X.509 certificate @pem (@pem_len bytes; the first certificate
 * in it counts). Neither the certificate's chain nor its validity period is checked.
 * Returns 0 when the signature verifies; -BL_EPERM when it does not (wrong key, altered
 * data, a malformed signature); -BL_EINVAL when @pem holds no certificate or its key is
 * not RSA (@d says which).
 */
int bl_pubkey_verify_x509_rsa(const char *pem, size_t pem_len, enum bl_pubkey_hash alg,
                              const void *data, size_t len, const unsigned char *sig,
                              size_t sig_len, struct bl_diag *d);

/*
 * bl_pubkey_verify_ecdsa_p256 - check the ECDSA signature @sig (@sig_len bytes, the DER
 * SEQUENCE { r, s } of RFC 3279 2.2.3) of SHA-256 over the @len bytes at @data against
 * the P-256 (prime256v1) public key @spki (@spki_len bytes, a DER SubjectPublicKeyInfo,
 * RFC 5480). Returns 0 when it verifies; -BL_EPERM when it does not; -BL_EINVAL when
 * @spki is not a P-256 public key (@d says why).
 */
int bl_pubkey_verify_ecdsa_p256(const unsigned char *spki, size_t spki_len, const void *data,
                                size_t len, const unsigned char *sig, size_t sig_len,
                                struct bl_diag *d);

#endif
