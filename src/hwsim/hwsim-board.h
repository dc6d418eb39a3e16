/* SPDX-License-Identifier: MIT */
/*
 * hwsim-board.h - the dk-hwsim server library (static library dk-hwsim-lib): the emulated
 * board. It reads a board configuration (one [device NAME] section per device), creates each
 * device's register window, doorbell and interrupt, runs each device model on a thread of its
 * own, and serves the "hwsim" protocol (dk/hwsim.h) to the broker on the channel the
 * supervisor hands it (docs/hwsim.md).
 *
 * Used by daemons/hwsim and the tests; not part of libdk. Reports go to the caller through a
 * callback (the daemon prints them); nothing here prints.
 *
 * Thread rules: one thread owns a struct dk_hwsim_board and calls every function here; the
 * device threads are internal (created by dk_hwsim_board_create(), joined by
 * dk_hwsim_board_destroy()) and never call the report callback.
 */
#ifndef DK_HWSIM_BOARD_H
#define DK_HWSIM_BOARD_H

#include <stdint.h>

#include <dk/hwsim.h>
#include <dk/runtime.h>

/* Device models (the `model =` value of a device section). */
enum dk_hwsim_model_kind {
	DK_HWSIM_MODEL_NULL = 1, /* "null": ID/VERSION registers only, no DMA */
	DK_HWSIM_MODEL_COPY = 2, /* "copy": the copy engine, docs/devices/copy.md */
};

/* dk_hwsim_model_name - "null", "copy", "unknown"; a static string. */
const char *dk_hwsim_model_name(uint32_t model);

/* dk_hwsim_model_parse - 0 and the enum dk_hwsim_model_kind for @name; -EINVAL. */
int dk_hwsim_model_parse(const char *name, uint32_t *ret_model);

/* ---- configuration ---- */

struct dk_hwsim_device_config {
	char name[DK_RT_NAME_MAX + 1]; /* dk_rt_check_name() holds */
	uint32_t model;                /* enum dk_hwsim_model_kind */
	uint32_t line;                 /* line of its section header */
};

struct dk_hwsim_config {
	uint32_t n_devices; /* 1..DK_HWSIM_DEVICES_MAX */
	struct dk_hwsim_device_config devices[DK_HWSIM_DEVICES_MAX];
};

/* Why a configuration was refused. */
struct dk_hwsim_config_error {
	uint32_t line;     /* 1-based line of the first error; 0 for the file as a whole */
	char message[160]; /* what is wrong, without the file name */
};

/*
 * dk_hwsim_config_load - read and check the board configuration in @path (INI, parsed with
 * inih; docs/hwsim.md, "Configuration"). Every problem is an error, never a warning: an unknown
 * section or key, a section header that is not "[device NAME]", a bad or duplicate name, a
 * missing or unknown model, more than DK_HWSIM_DEVICES_MAX devices, a line longer than 200
 * bytes, no device at all.
 * @ret_cfg: written on success only.
 * @error: caller's; written when -EINVAL is returned (the first error by line).
 * Returns 0; -EINVAL (see @error); -errno when the file cannot be opened or read.
 */
int dk_hwsim_config_load(const char *path, struct dk_hwsim_config *ret_cfg,
			 struct dk_hwsim_config_error *error);

/* ---- the board ---- */

struct dk_hwsim_board_config {
	const struct dk_hwsim_config *devices; /* required; copied */
	int control_fd; /* the supervisor's control socket, taken over; -1: none */
	int channel_fd; /* a "hwsim" channel to serve from the start, taken over; -1: none */
	const char *logd_path; /* dk-logd's socket: faults are journaled; NULL: no journal */
	/* Optional: called (on the owning thread) with one line of text for the operator. */
	void (*report)(void *data, const char *line);
	void *report_data;
};

/* Counters of the protocol side, for the operator (reported at exit). */
struct dk_hwsim_board_counters {
	uint64_t requests;        /* "hwsim" requests answered (successfully or not) */
	uint64_t refused;         /* malformed or unknown frames on the channel */
	uint64_t control_refused; /* frames on the control socket that were not HWSIM_CHANNEL */
	uint64_t channels;        /* channels taken (HWSIM_CHANNEL and --channel-fd) */
	uint64_t journal_dropped; /* fault records the journal did not take */
};

struct dk_hwsim_board;

/*
 * dk_hwsim_board_create - build the board: per device a sealed 4096-byte register window, a
 * doorbell and an interrupt eventfd, and a device thread (started here, with every signal
 * blocked). Connects to dk-logd when @cfg->logd_path is set (a journal that cannot be reached
 * is reported, not fatal). Takes over @cfg->control_fd and @cfg->channel_fd (closed by
 * dk_hwsim_board_destroy(), even when this fails).
 * @ret_board: owned by the caller until dk_hwsim_board_destroy().
 * Returns 0; -EINVAL (bad configuration, a descriptor that is not a socket); -ENOMEM; -errno of
 * memfd_create, eventfd, timerfd, mmap, epoll or pthread_create.
 */
int dk_hwsim_board_create(const struct dk_hwsim_board_config *cfg,
			  struct dk_hwsim_board **ret_board);

/*
 * dk_hwsim_board_ready - tell the supervisor set-up is done (READY on the control socket).
 * Returns 0; -ENOENT when there is no control socket; the errors of dk_msg_send().
 */
int dk_hwsim_board_ready(struct dk_hwsim_board *board, uint64_t deadline_ns);

/*
 * dk_hwsim_board_run - serve the control socket and the channel until @signal_fd (a signalfd,
 * non-blocking) delivers SIGTERM or SIGINT. The devices run meanwhile on their threads (they
 * started at create). Returns 0 on such a signal; -errno when epoll itself fails.
 */
int dk_hwsim_board_run(struct dk_hwsim_board *board, int signal_fd);

/* dk_hwsim_board_counters - the protocol counters so far. */
void dk_hwsim_board_counters(const struct dk_hwsim_board *board,
			     struct dk_hwsim_board_counters *ret_counters);

/*
 * dk_hwsim_board_destroy - stop and join the device threads, unmap every window and close
 * every descriptor. Accepts NULL and a half-built board.
 */
void dk_hwsim_board_destroy(struct dk_hwsim_board *board);

#endif /* DK_HWSIM_BOARD_H */
