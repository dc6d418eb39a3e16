/* SPDX-License-Identifier: MIT */
/*
 * dk/socket.h - the control-plane socket helpers every DriverKit endpoint shares.
 *
 * Control-plane endpoints are AF_UNIX SOCK_SEQPACKET sockets (one frame per record, peer
 * identity from SO_PEERCRED). These helpers make the listening side and bounded waits the same
 * everywhere.
 */
#ifndef DK_SOCKET_H
#define DK_SOCKET_H

#include <stdint.h>

#include <dk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * dk_socket_listen - a non-blocking, close-on-exec SOCK_SEQPACKET socket listening at @path.
 * A socket file left behind by a process that died is replaced; a socket somebody still
 * listens on, or a path that is not a socket, is never touched (-EADDRINUSE).
 * Returns 0 and the descriptor (caller owns it); -ENAMETOOLONG; -EADDRINUSE; another errno.
 */
DK_EXPORT int dk_socket_listen(const char *path, int backlog, int *ret_fd);

/*
 * dk_socket_wait - wait until @fd has any of @events (poll(2) events) or @deadline_ns passes
 * (a past deadline polls once).
 * Returns 0 when ready; -ETIMEDOUT; another negative errno from ppoll().
 */
DK_EXPORT int dk_socket_wait(int fd, short events, uint64_t deadline_ns);

/*
 * dk_socket_connect - a non-blocking, close-on-exec SOCK_SEQPACKET socket connected to @path.
 * A full backlog is retried until @deadline_ns.
 * Returns 0 and the descriptor; -EINVAL; -ENAMETOOLONG; -ENOENT / -ECONNREFUSED (nobody
 * listens); -ETIMEDOUT; another errno.
 */
DK_EXPORT int dk_socket_connect(const char *path, uint64_t deadline_ns, int *ret_fd);

/*
 * dk_socket_peer - the kernel-verified identity of @fd's peer (SO_PEERCRED: as it was when the
 * connection or socketpair was made). Any out-parameter may be NULL. Returns 0 or -errno.
 */
DK_EXPORT int dk_socket_peer(int fd, uint32_t *ret_pid, uint32_t *ret_uid, uint32_t *ret_gid);

#ifdef __cplusplus
}
#endif

#endif /* DK_SOCKET_H */
