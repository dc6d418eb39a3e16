/* SPDX-License-Identifier: MIT */
/* dk/dk.h - everything in libdk. */
#ifndef DK_DK_H
#define DK_DK_H

#include <dk/common.h>
#include <dk/error.h>
#include <dk/time.h>
#include <dk/rights.h>
#include <dk/budget.h>
#include <dk/buffer.h>
#include <dk/fence.h>
#include <dk/waitset.h>
#include <dk/frame.h>
#include <dk/wire.h>
#include <dk/transfer.h>
#include <dk/qos.h>
#include <dk/htable.h>
#include <dk/ring.h>
#include <dk/socket.h>
#include <dk/msg.h>
#include <dk/runtime.h>
#include <dk/client.h>
#include <dk/hwsim.h>

#endif /* DK_DK_H */
