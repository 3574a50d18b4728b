/* TEMPORARY STUB — replaced by the address validator work. */
#include "core/address.h"

#include <string.h>

int bl_address_parse(const char *in, size_t len, unsigned flags, struct bl_address *out,
                     enum bl_address_problem *problem, struct bl_diag *d)
{
	(void)flags;
	if (len == 0 || len > BL_ADDRESS_MAX || !memchr(in, '@', len)) {
		if (problem)
			*problem = BL_ADDR_NO_AT;
		return bl_diag_set(d, BL_EINVAL, "not an address");
	}
	memcpy(out->email, in, len);
	out->email[len] = '\0';
	memcpy(out->key, in, len + 1);
	memcpy(out->display, in, len + 1);
	for (char *p = out->key; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	out->local_len = (size_t)((char *)memchr(in, '@', len) - in);
	if (problem)
		*problem = BL_ADDR_OK;
	return 0;
}

const char *bl_address_problem_name(enum bl_address_problem p)
{
	(void)p;
	return "stub";
}
