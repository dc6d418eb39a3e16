/* SPDX-License-Identifier: MIT */
/*
 * copy-class.h - the copy-engine device class (copy-class.c, docs/devices/copy.md).
 */
#ifndef DK_COPY_CLASS_H
#define DK_COPY_CLASS_H

#include <dk/service/device.h>

/* Opcodes of the copy class (struct dk_sqe.opcode; DK_OP_NOP is 0). */
enum copy_op {
	COPY_OP_COPY = 1, /* buf[0] (READ) -> buf[1] (WRITE), equal lengths, no overlap */
	COPY_OP_FILL = 2, /* buf[0] (WRITE) filled with the byte sqe.param */
};

/* copy_class_ops - the class's ops table, for dk_svc_main(). */
const struct dk_device_ops *copy_class_ops(void);

#endif /* DK_COPY_CLASS_H */
