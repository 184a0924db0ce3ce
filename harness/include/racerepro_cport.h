/*
 * racerepro_cport.h: the completion-port part of the scenario API, for the
 * scenarios that submit asynchronous I/O (cancel_uaf). Its own header: the
 * other scenarios have no use for it, and it pulls in nothing they need.
 */
#ifndef RACEREPRO_CPORT_H
#define RACEREPRO_CPORT_H

#include "racerepro.h"

/* ------------------------------------------------------------------------ */
/* Completion port: real io_uring, or an emulated IOCP-style port            */
/* ------------------------------------------------------------------------ */

/* A completion port in the Windows IOCP / io_uring sense: operations are
 * submitted with a user_data cookie and each later delivers exactly one
 * completion carrying that cookie, also when it was cancelled (res =
 * -ECANCELED, Windows' ERROR_OPERATION_ABORTED). Cancelling never suppresses
 * the completion: memory that an operation's user_data points to may be
 * reused only after that operation's own completion came out of
 * rr_cport_wait.
 *
 * Backends (harness/cport.c): real io_uring through liburing (recv and send
 * are IORING_OP_RECV/SEND, cancel is IORING_OP_ASYNC_CANCEL whose own CQE is
 * consumed inside the port, post is IORING_OP_NOP), or an emulated port: a
 * queue serviced by the waiter, where an operation stays pending until its fd
 * polls ready (checked with poll() whenever the waiter looks for completions)
 * or it is cancelled. RR_CPORT_AUTO picks io_uring and falls back to the
 * emulated port when io_uring_queue_init fails with ENOSYS or EPERM, when
 * kernel.io_uring_disabled is 2, or when the kernel lacks an opcode the port
 * uses; the backend in use and why is recorded with rr_env_note("backend").
 *
 * Threads: any number of threads may submit, cancel and post; one thread at a
 * time waits. Cookies: make user_data the address of the operation's state
 * (a pointer cast to uint64_t), because it also keys the TSan annotation:
 * submitting (and cancelling) an operation is a release on
 * (void *)(uintptr_t)user_data and rr_cport_wait returning its completion an
 * acquire on the same key (rr_handoff_send/recv), so what the submitter wrote
 * before submitting is visible to the waiter's callback without a report.
 * Under controlled strategies a completion must become ready through a call
 * some scenario thread makes (a submit, a cancel, a post, a write to the
 * peer), never on the kernel's own time: socket operations on io_uring
 * qualify, regular-file I/O (punted to io-wq workers) does not. */
struct rr_cport;
enum rr_cport_backend { RR_CPORT_AUTO, RR_CPORT_URING, RR_CPORT_EMULATED };
struct rr_completion {
	uint64_t user_data;
	int res; /* bytes transferred, or -errno (-ECANCELED when cancelled) */
};

/* Reserved: the port's own requests (io_uring cancel requests) carry it. */
#define RR_CPORT_RESERVED_USER_DATA UINT64_MAX

/* Opens a port. WANT is RR_CPORT_AUTO (io_uring, else emulated) or a backend
 * by name. Returns 0 and the port in *OUT; RR_SKIP (after rr_skip, with the
 * reason) when io_uring was asked for by name and is unavailable here; or
 * -errno after rr_env_error. Meant for setup (a port that lives as long as
 * the worker, whose setup returns a nonzero result as is); iterate may open
 * and close ports too. */
int rr_cport_open(struct rr_cport **out, enum rr_cport_backend want);
/* Parses "auto", "io_uring", "emulated"; returns -1 for anything else. */
int rr_cport_backend_parse(const char *name);
/* "io_uring" or "emulated": the backend this port really uses. */
const char *rr_cport_backend_name(const struct rr_cport *p);
/* Submit a recv/send of up to LEN bytes on FD (a socket) with the given
 * cookie; the completion arrives through rr_cport_wait (res = bytes, or
 * -errno). BUF must stay valid until then. Never blocks. Returns 0 once
 * submitted, -EINVAL for the reserved cookie, or -errno from the backend (the
 * operation was not submitted and delivers no completion). */
int rr_cport_recv(struct rr_cport *p, int fd, void *buf, size_t len, uint64_t user_data);
int rr_cport_send(struct rr_cport *p, int fd, const void *buf, size_t len, uint64_t user_data);
/* Requests cancellation of the operation with USER_DATA (CancelIoEx) and
 * returns without waiting: that operation still delivers its own completion,
 * -ECANCELED if the cancellation won, its normal result if the operation
 * completed first. Never blocks. Returns 0 once requested (also when nothing
 * was left to cancel), or -errno if the request could not be made. */
int rr_cport_cancel(struct rr_cport *p, uint64_t user_data);
/* Queues a completion with USER_DATA and res 0 directly, like Windows'
 * PostQueuedCompletionStatus (io_uring: a NOP): how to wake a waiter to tell
 * it to stop. Never blocks. Returns 0 or -errno. */
int rr_cport_post(struct rr_cport *p, uint64_t user_data);
/* A blocking wrapper: waits for the next operation's (or post's) completion
 * and stores it in *OUT. Under a controlled strategy the caller parks on the
 * port until a completion is ready; free-running, it blocks in the kernel
 * (io_uring_wait_cqe, or poll() on the emulated port's fds). Returns 0, or
 * -errno after rr_env_error. */
int rr_cport_wait(struct rr_cport *p, struct rr_completion *out);
/* Operations submitted and not yet delivered by rr_cport_wait (posts count
 * too). Zero means the port may be closed or reused by the next iteration. */
unsigned rr_cport_inflight(const struct rr_cport *p);
/* Closes the port and frees everything it holds. Every submitted operation
 * should have delivered its completion; any that did not are dropped (on
 * io_uring the kernel cancels them when the ring goes away). No thread may be
 * waiting on it. */
void rr_cport_close(struct rr_cport *p);

#endif /* RACEREPRO_CPORT_H */
