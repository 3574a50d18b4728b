/*
 * Public-key signature checks (pubkey.h) on OpenSSL 3's libcrypto: PEM
 * certificates through PEM_read_bio_X509, DER keys through d2i_PUBKEY, and
 * one EVP_DigestVerify per call. OpenSSL's error queue is emptied after
 * each call so a failure here never shows up in another module's TLS.
 */
#include "core/pubkey.h"

#include <limits.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* 0 when @sig verifies for @key over @data with @md, else -BL_EPERM. */
static int digest_verify(EVP_PKEY *key, const EVP_MD *md, const void *data, size_t len,
                         const unsigned char *sig, size_t sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = -BL_EPERM;
	if (ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1 &&
	    EVP_DigestVerify(ctx, sig, sig_len, data, len) == 1)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	return rc;
}

int bl_pubkey_verify_x509_rsa(const char *pem, size_t pem_len, enum bl_pubkey_hash alg,
                              const void *data, size_t len, const unsigned char *sig,
                              size_t sig_len, struct bl_diag *d)
{
	if (pem_len > INT_MAX)
		return bl_diag_set(d, BL_EINVAL, "certificate too large");
	BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
	X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	EVP_PKEY *key = cert ? X509_get_pubkey(cert) : NULL;
	int rc;
	if (!cert)
		rc = bl_diag_set(d, BL_EINVAL, "no PEM certificate");
	else if (!key || EVP_PKEY_base_id(key) != EVP_PKEY_RSA)
		rc = bl_diag_set(d, BL_EINVAL, "the certificate's key is not RSA");
	else
		rc = digest_verify(key, alg == BL_PUBKEY_SHA1 ? EVP_sha1() : EVP_sha256(), data,
		                   len, sig, sig_len);
	EVP_PKEY_free(key);
	X509_free(cert);
	BIO_free(bio);
	ERR_clear_error();
	return rc;
}

int bl_pubkey_verify_ecdsa_p256(const unsigned char *spki, size_t spki_len, const void *data,
                                size_t len, const unsigned char *sig, size_t sig_len,
                                struct bl_diag *d)
{
	if (spki_len > INT_MAX)
		return bl_diag_set(d, BL_EINVAL, "public key too large");
	const unsigned char *p = spki;
	EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)spki_len);
	char curve[64] = "";
	size_t curve_len = 0;
	int rc;
	if (!key || p != spki + spki_len)
		rc = bl_diag_set(d, BL_EINVAL, "not a DER SubjectPublicKeyInfo");
	else if (EVP_PKEY_base_id(key) != EVP_PKEY_EC ||
	         EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, curve,
	                                        sizeof(curve), &curve_len) != 1 ||
	         strcmp(curve, SN_X9_62_prime256v1) != 0)
		rc = bl_diag_set(d, BL_EINVAL, "the public key is not an EC P-256 key");
	else
		rc = digest_verify(key, EVP_sha256(), data, len, sig, sig_len);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return rc;
}
