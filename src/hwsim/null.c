/* SPDX-License-Identifier: MIT */
/*
 * null.c - the null model: a register window with ID and VERSION and nothing behind it (no
 * DMA, no interrupt). The reference for the smallest possible device (docs/hwsim.md).
 *
 * Called by the device thread with the device's mutex held (hwsim-internal.h).
 */
#include "hwsim-internal.h"

/* Offsets are the copy engine's: every model starts its window with ID and VERSION. */
static void null_publish(struct hwsim_device *dev)
{
	hwsim_reg_write(dev, DK_COPY_REG_VERSION, DK_HWSIM_NULL_VERSION);
	hwsim_reg_write(dev, DK_COPY_REG_ID, DK_HWSIM_NULL_ID); /* last: the register barrier */
}

static void null_reset(struct hwsim_device *dev)
{
	hwsim_regs_clear(dev);
	null_publish(dev);
}

static bool null_run(struct hwsim_device *dev, unsigned int events)
{
	/* A doorbell only restores what the driver may have overwritten. */
	if (events & HWSIM_EV_DOORBELL)
		null_publish(dev);
	return false;
}

const struct hwsim_model_ops hwsim_null_ops = {
	.version = 1,
	.kind = DK_HWSIM_MODEL_NULL,
	.dma = false,
	.reset = null_reset,
	.run = null_run,
};
