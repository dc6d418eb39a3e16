/* SPDX-License-Identifier: MIT */
/*
 * DMA ownership: CPU-owned -> device-owned bound to (fence, point) -> CPU-owned once the fence
 * reaches the point. Every CPU access while device-owned is refused and changes nothing.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <dk/budget.h>
#include <dk/buffer.h>
#include <dk/error.h>
#include <dk/fence.h>
#include <dk/rights.h>
#include <dk/time.h>

struct ctx {
	struct dk_buffer_registry *reg;
	struct dk_budget *budget;
	struct dk_fence *fence;
};

static int setup(void **state)
{
	struct dk_budget_limits lim = {.max_bytes = 1 << 20, .max_buffers = 16, .max_inflight = 2};
	struct ctx *c = calloc(1, sizeof(*c));

	assert_int_equal(dk_buffer_registry_create(NULL, &c->reg), 0);
	assert_int_equal(dk_budget_create(&lim, &c->budget), 0);
	assert_int_equal(dk_fence_create(0, &c->fence), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	struct dk_budget_usage u;

	dk_budget_usage(c->budget, &u);
	assert_int_equal(u.inflight, 0);
	dk_fence_unref(c->fence);
	dk_budget_destroy(c->budget);
	dk_buffer_registry_destroy(c->reg);
	free(c);
	return 0;
}

static struct dk_buffer *mkbuf(struct ctx *c, uint32_t flags)
{
	struct dk_buffer *b = NULL;

	assert_int_equal(dk_buffer_create(c->reg, c->budget, 4096, flags, &b), 0);
	return b;
}

static void test_submit_and_reclaim(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b = mkbuf(c, 0);
	uint32_t reason = 99;
	void *p;

	assert_int_equal(dk_buffer_owner(b), DK_BUFFER_OWNER_CPU);
	assert_int_equal(dk_buffer_submit(b, c->fence, 1), 0);
	assert_int_equal(dk_buffer_owner(b), DK_BUFFER_OWNER_DEVICE);
	/* Not yet: a past deadline polls once. */
	assert_int_equal(dk_buffer_reclaim(b, 1, &reason), -ETIMEDOUT);
	assert_int_equal(dk_buffer_owner(b), DK_BUFFER_OWNER_DEVICE);
	assert_int_equal(reason, 99);

	/* The fence return gives back exclusive ownership. */
	assert_int_equal(dk_fence_signal(c->fence, 1), 0);
	assert_int_equal(dk_buffer_reclaim(b, dk_deadline_in(DK_NSEC_PER_SEC), &reason), 0);
	assert_int_equal(reason, DK_REASON_NONE);
	assert_int_equal(dk_buffer_owner(b), DK_BUFFER_OWNER_CPU);
	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ | DK_RIGHT_WRITE, &p), 0);
	assert_int_equal(dk_buffer_unmap(b, p), 0);
	assert_int_equal(dk_buffer_reclaim(b, dk_deadline_in(0), NULL), -EINVAL);
	assert_int_equal(dk_buffer_release(b), 0);
}

static void test_double_submit_refused(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b = mkbuf(c, 0);
	struct dk_budget_usage u;

	assert_int_equal(dk_buffer_submit(b, c->fence, 1), 0);
	assert_int_equal(dk_buffer_submit(b, c->fence, 2), -EBUSY);
	dk_budget_usage(c->budget, &u);
	assert_int_equal(u.inflight, 1); /* the refusal took nothing */
	assert_int_equal(dk_fence_signal(c->fence, 1), 0);
	assert_int_equal(dk_buffer_reclaim(b, dk_deadline_in(DK_NSEC_PER_SEC), NULL), 0);
	assert_int_equal(dk_buffer_release(b), 0);
}

static void test_cpu_access_in_flight_refused(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b = mkbuf(c, 0);
	uint8_t byte = 1;
	void *p = (void *)0x1;
	int fd = -1;

	assert_int_equal(dk_buffer_submit(b, c->fence, 5), 0);
	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ, &p), -EBUSY);
	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ | DK_RIGHT_WRITE, &p), -EBUSY);
	assert_ptr_equal(p, (void *)0x1);
	assert_int_equal(dk_buffer_write(b, 0, &byte, 1), -EBUSY);
	assert_int_equal(dk_buffer_read(b, 0, &byte, 1), -EBUSY);
	assert_int_equal(dk_buffer_seal_readonly(b), -EBUSY);
	assert_int_equal(dk_buffer_export(b, DK_RIGHTS_BUFFER_RO, &fd), -EBUSY);
	assert_int_equal(dk_buffer_release(b), -EBUSY);
	assert_int_equal(fd, -1);

	assert_int_equal(dk_fence_signal(c->fence, 5), 0);
	assert_int_equal(dk_buffer_reclaim(b, dk_deadline_in(DK_NSEC_PER_SEC), NULL), 0);
	assert_int_equal(dk_buffer_write(b, 0, &byte, 1), 0);
	assert_int_equal(dk_buffer_release(b), 0);
}

static void test_submit_while_mapped_refused(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b = mkbuf(c, 0);
	void *p;

	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ | DK_RIGHT_WRITE, &p), 0);
	assert_int_equal(dk_buffer_submit(b, c->fence, 1), -EBUSY);
	assert_int_equal(dk_buffer_owner(b), DK_BUFFER_OWNER_CPU);
	assert_int_equal(dk_buffer_unmap(b, p), 0);
	assert_int_equal(dk_buffer_submit(b, c->fence, 1), 0);
	assert_int_equal(dk_fence_signal(c->fence, 1), 0);
	assert_int_equal(dk_buffer_reclaim(b, dk_deadline_in(DK_NSEC_PER_SEC), NULL), 0);
	assert_int_equal(dk_buffer_release(b), 0);
}

static void test_inflight_bounded(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *a = mkbuf(c, 0), *b = mkbuf(c, 0), *x = mkbuf(c, 0);

	assert_int_equal(dk_buffer_submit(a, c->fence, 1), 0);
	assert_int_equal(dk_buffer_submit(b, c->fence, 1), 0);
	assert_int_equal(dk_buffer_submit(x, c->fence, 1), -ENOSPC);
	assert_int_equal(dk_buffer_owner(x), DK_BUFFER_OWNER_CPU);
	assert_int_equal(dk_fence_signal(c->fence, 1), 0);
	assert_int_equal(dk_buffer_reclaim(a, dk_deadline_in(DK_NSEC_PER_SEC), NULL), 0);
	assert_int_equal(dk_buffer_submit(x, c->fence, 2), 0);
	assert_int_equal(dk_fence_signal(c->fence, 2), 0);
	assert_int_equal(dk_buffer_reclaim(b, dk_deadline_in(DK_NSEC_PER_SEC), NULL), 0);
	assert_int_equal(dk_buffer_reclaim(x, dk_deadline_in(DK_NSEC_PER_SEC), NULL), 0);
	assert_int_equal(dk_buffer_release(a), 0);
	assert_int_equal(dk_buffer_release(b), 0);
	assert_int_equal(dk_buffer_release(x), 0);
}

static void test_fence_error_returns_ownership_and_reports(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b = mkbuf(c, 0);
	uint32_t reason = 0;

	assert_int_equal(dk_buffer_submit(b, c->fence, 3), 0);
	assert_int_equal(dk_fence_signal_error(c->fence, 3, -EIO, DK_REASON_HANG), 0);
	assert_int_equal(dk_buffer_reclaim(b, dk_deadline_in(DK_NSEC_PER_SEC), &reason), -EIO);
	assert_int_equal(reason, DK_REASON_HANG);
	assert_int_equal(dk_buffer_owner(b), DK_BUFFER_OWNER_CPU);
	assert_int_equal(dk_buffer_release(b), 0);
}

static void test_submit_needs_waitable_fence(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b = mkbuf(c, 0);
	struct dk_fence *sig_only;

	assert_int_equal(dk_fence_dup(c->fence, DK_RIGHT_SIGNAL, &sig_only), 0);
	assert_int_equal(dk_buffer_submit(b, sig_only, 1), -EPERM);
	assert_int_equal(dk_buffer_owner(b), DK_BUFFER_OWNER_CPU);
	dk_fence_unref(sig_only);
	assert_int_equal(dk_buffer_release(b), 0);
}

static void test_reclaim_bad_deadline_keeps_device_ownership(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b = mkbuf(c, 0);

	assert_int_equal(dk_buffer_submit(b, c->fence, 1), 0);
	assert_int_equal(dk_buffer_reclaim(b, 0, NULL), -EINVAL);
	assert_int_equal(dk_buffer_reclaim(b, UINT64_MAX, NULL), -EINVAL);
	assert_int_equal(dk_buffer_owner(b), DK_BUFFER_OWNER_DEVICE);
	assert_int_equal(dk_fence_signal(c->fence, 1), 0);
	assert_int_equal(dk_buffer_reclaim(b, dk_deadline_in(DK_NSEC_PER_SEC), NULL), 0);
	assert_int_equal(dk_buffer_release(b), 0);
}

static void segv_exit(int sig)
{
	(void)sig;
	_exit(42);
}

/* With DK_BUFFER_GUARD_INFLIGHT a stale CPU pointer faults instead of racing the device. */
static void test_guard_faults_stale_pointer(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b = mkbuf(c, DK_BUFFER_GUARD_INFLIGHT);
	volatile uint8_t *p;
	int status;
	pid_t pid;

	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&p), 0);
	p[0] = 1;
	assert_int_equal(dk_buffer_unmap(b, (void *)p), 0);
	assert_int_equal(dk_buffer_submit(b, c->fence, 1), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Our own handler (sanitizers install theirs): a fault exits with 42. */
		struct sigaction sa = {.sa_handler = segv_exit};

		sigaction(SIGSEGV, &sa, NULL);
		p[0] = 2; /* must fault */
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 42);

	assert_int_equal(dk_fence_signal(c->fence, 1), 0);
	assert_int_equal(dk_buffer_reclaim(b, dk_deadline_in(DK_NSEC_PER_SEC), NULL), 0);
	p[0] = 3; /* accessible again */
	assert_int_equal(p[0], 3);
	assert_int_equal(dk_buffer_release(b), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_submit_and_reclaim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_double_submit_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_access_in_flight_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submit_while_mapped_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fence_error_returns_ownership_and_reports,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_submit_needs_waitable_fence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reclaim_bad_deadline_keeps_device_ownership,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_guard_faults_stale_pointer, setup, teardown),
	};

	return cmocka_run_group_tests_name("ownership", tests, NULL, NULL);
}
