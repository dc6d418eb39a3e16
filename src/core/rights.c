/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include <dk/rights.h>

int dk_rights_narrow(uint32_t have, uint32_t want, uint32_t *ret_rights)
{
	if (want & ~DK_RIGHTS_ALL)
		return -EINVAL;
	if (!dk_rights_has(have, want))
		return -EPERM;
	*ret_rights = want;
	return 0;
}
