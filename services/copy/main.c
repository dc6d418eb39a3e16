/* SPDX-License-Identifier: MIT */
/*
 * dk-copy - the copy-engine device service (man/dk-copy.8): the copy class on libdk-service,
 * driving the dk-hwsim copy engine the broker grants it.
 */
#include <dk/service/service.h>

#include "copy-class.h"

int main(int argc, char **argv)
{
	return dk_svc_main(copy_class_ops(), argc, argv);
}
