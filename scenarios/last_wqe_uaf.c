/*
 * last_wqe_uaf: the last-WQE event processed after its qpair was freed.
 *
 * Upstream: spdk/spdk#3541 "[nvmf_abort] heap-use-after-free detected by ASAN
 * in nvmf" (lib/nvmf/rdma.c). Commit 43f6d338 replaced the qpair's list of
 * pending ibv event contexts with one pointer, last_wqe_reached_ctx, and
 * cleared it in the message handler *after* the call that may destroy the
 * qpair; commit 5e156a6e "nvmf/rdma: fix last_wqe_reached ctx handling"
 * clears it before. ASan in the nightly RDMA test: WRITE of size 8 in
 * nvmf_rdma_qpair_process_last_wqe_event, on a qpair freed by
 * nvmf_rdma_qpair_destroy. The separately allocated event context whose
 * rqpair field the destroy path clears dates from the 2019 ancestors
 * spdk/spdk#858 and #1075 (commit dc84fbaa).
 *
 * Our model, with upstream's names where we kept them:
 *   struct nvmf_rdma_qpair       spdk_nvmf_rdma_qpair: to_close,
 *                                current_send_depth, last_wqe_reached,
 *                                last_wqe_reached_ctx (rr_alloc'd, so the
 *                                plain build's quarantine can name it)
 *   struct ibv_event_ctx         spdk_nvmf_rdma_ibv_event_ctx (rqpair)
 *   struct poll_group            the poll group's spdk_thread: an MPSC message
 *                                ring plus an eventfd wake-up (interrupt mode)
 *   send_msg()                   spdk_thread_send_msg()
 *   poll_group_run()             thread_poll(): msg_queue_run_batch(), then
 *                                the CQ poller nvmf_rdma_poller_poll()
 *   struct device_events         the uverbs async event file: the kernel's
 *                                event list (a ring) and the fd it wakes
 *                                (an eventfd); ibv_get_async_event() and
 *                                device_raise_event() read and fill it
 *   cq_fd                        the completion queue with its channel, a pipe
 *                                of work completions (IBV_WC_WR_FLUSH_ERR)
 *   device_qp_to_error()         ibv_modify_qp(IBV_QPS_ERR): the HCA flushes
 *                                the outstanding sends into the CQ and raises
 *                                IBV_EVENT_QP_LAST_WQE_REACHED (SRQ attached)
 *   role "owner"                 the poll group thread (reactor_2 upstream)
 *   role "acceptor"              the thread that polls the device's async
 *                                events (nvmf_process_ib_event)
 *
 * The failing interleaving (buggy): the drain finished first, so the message
 * is the last drain condition and the destroy runs inside its handler.
 *
 *   owner                                  acceptor
 *   close_qpair: to_close = 1, QP -> ERR
 *   poller: flushed sends complete,
 *     current_send_depth -> 0; not all
 *     conditions hold, qpair stays
 *                                          read LAST_WQE_REACHED
 *                                          ctx = alloc; rqpair->ctx = ctx
 *                                          send_msg(process_last_wqe_event)
 *   process_last_wqe_event(ctx):
 *     handle_last_wqe_reached(rqpair)
 *       -> all conditions hold: destroy,
 *          free(rqpair)
 *     rqpair->last_wqe_reached_ctx = NULL   <- 8-byte write into freed qpair
 *
 * If instead the message runs while sends are still outstanding, the handler
 * only sets last_wqe_reached and the qpair is destroyed later on the poller
 * path, where nothing touches it afterwards: safe.
 *
 * Proportions. The owner reaps the flushed completions 32 at a time (as
 * nvmf_rdma_poller_poll does) and runs its messages between rounds; 128 sends
 * at 32 us each make a drain of about 4 ms, while the event's trip through
 * the acceptor takes microseconds. So under free-running strategies the message
 * nearly always lands between two rounds, and only an acceptor delayed past
 * the last round (preempted, or its CPU busy) shows the bug. As SPDK runs
 * its reactors, both threads spin on their own pinned CPUs (params poll_mode
 * and pin): a sleeping acceptor woken on the spinning owner's CPU would wait
 * for the owner to block, an ordering made by the kernel's CPU placement, not
 * by the work. A controlled strategy finds the bad order in a few steps: the
 * owner only has to run its four rounds before the acceptor's four steps.
 *
 * Invariant the fix restores: never touch an object after calling something
 * that may destroy it. The handler clears last_wqe_reached_ctx before calling
 * handle_last_wqe_reached(); the destroy path (shared by both variants, as
 * upstream) clears ctx->rqpair when a context is still outstanding so a
 * message in flight finds no qpair.
 *
 * Third variant, no_indirection (expected to fail): the 2019 ancestor,
 * spdk/spdk#858. The acceptor set last_wqe_reached itself and sent the qpair
 * pointer as the message; the owner's poller, finishing the drain after the
 * flag but before the message, destroyed the qpair, and the message then ran
 * nvmf_rdma_destroy_drained_qpair on freed memory (a double destroy when the
 * freed fields still passed its checks). Here the drain must come *last*:
 *
 *   owner                                  acceptor
 *   round k: msg batch (empty)
 *                                          rqpair->last_wqe_reached = 1
 *                                          send_msg(destroy_drained, rqpair)
 *   round k: last completions reaped,
 *     every condition holds: free(rqpair)
 *   round k+1: destroy_drained(rqpair)     <- read of freed qpair
 *
 * TSan also reports the flag itself: written on the acceptor, read by the
 * poller, with nothing ordering the two.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "racerepro.h"

/* enum ibv_event_type and enum ibv_wc_status values, from <infiniband/verbs.h>. */
#define IBV_EVENT_QP_LAST_WQE_REACHED 16
#define IBV_WC_WR_FLUSH_ERR 5

#define RR_NO_INDIRECTION rr_variant_is("no_indirection")

#define MSG_RING_SIZE 16 /* a power of two */
#define MAX_SEND_DEPTH 256
#define MAX_CQ_BATCH 64

/* What ibv_get_async_event hands back: the event and the QP's context. */
struct async_event_rec {
	uint64_t qp_context;
	uint32_t event_type;
	uint32_t pad;
};

/* A work completion in the CQ. */
struct wc_rec {
	uint64_t wr_id;
	int32_t status;
	uint32_t pad;
};

struct msg_slot {
	uint64_t seq;
	void (*fn)(void *);
	void *arg;
};

/* A bounded multi-producer single-consumer ring (per-slot sequence numbers),
 * the shape of the DPDK ring behind spdk_thread_send_msg: the release store
 * of a slot's seq publishes the message to the consumer's acquire load. */
struct msg_ring {
	struct msg_slot slots[MSG_RING_SIZE];
	uint64_t enq; /* producers */
	uint64_t deq; /* consumer only */
};

struct poll_group {
	struct msg_ring ring;
	int msg_efd;
};

struct ibv_event_ctx;

#define NVMF_RDMA_QPAIR_SIZE 328 /* upstream's object, as ASan reported it */

struct nvmf_rdma_qpair {
	struct poll_group *group;
	int to_close;
	int current_send_depth;
	int last_wqe_reached;
	struct ibv_event_ctx *last_wqe_reached_ctx;
	/* The rest of spdk_nvmf_rdma_qpair (queues, cm_id, resources), so that
	 * reports show the 328-byte object ASan saw upstream. */
	unsigned char rest[NVMF_RDMA_QPAIR_SIZE - 32];
};

_Static_assert(sizeof(struct nvmf_rdma_qpair) == NVMF_RDMA_QPAIR_SIZE,
	       "nvmf_rdma_qpair keeps upstream's size");

struct ibv_event_ctx {
	struct nvmf_rdma_qpair *rqpair;
};

#define DEV_EVENTS 4 /* a power of two */

/* The device's async events. The kernel queues them on the uverbs async
 * event file and wakes its readers with a plain (not sync) wake-up, so the
 * acceptor is not pulled onto the owner's CPU; an eventfd does the same. */
struct device_events {
	struct async_event_rec q[DEV_EVENTS];
	uint32_t tail; /* atomic: written by the device (the owner) */
	uint32_t head; /* the acceptor's */
	int efd;       /* blocking: read() sleeps unless poll() said ready */
};

/* One episode: a qpair's teardown. Lives on the owner's stack. */
struct episode {
	struct poll_group group;
	struct nvmf_rdma_qpair *qpair; /* NULL once destroyed */
	struct device_events dev;
	int cq_fd[2];
	int acceptor_failed; /* atomic: the acceptor gave up, owner must not wait */
	int msgs_run;        /* messages the owner ran: the episode sends one */
	long long send_depth;
	long long cq_batch;
	long long cqe_work_us;
	long long event_work_us;
	long long connected_us;
	int pin;              /* param: owner and acceptor on CPUs of their own */
	int poll_mode;        /* param: the acceptor spins on its fd */
};

static void msg_ring_init(struct msg_ring *r)
{
	memset(r, 0, sizeof(*r));
	for (uint64_t i = 0; i < MSG_RING_SIZE; i++)
		__atomic_store_n(&r->slots[i].seq, i, __ATOMIC_RELAXED);
}

/* Returns 0, or -ENOMEM when the ring is full (as spdk_thread_send_msg). */
static int msg_ring_enqueue(struct msg_ring *r, void (*fn)(void *), void *arg)
{
	uint64_t pos = __atomic_load_n(&r->enq, __ATOMIC_RELAXED);
	struct msg_slot *s;

	for (;;) {
		s = &r->slots[pos & (MSG_RING_SIZE - 1)];
		uint64_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		int64_t diff = (int64_t)(seq - pos);

		if (diff == 0) {
			if (__atomic_compare_exchange_n(&r->enq, &pos, pos + 1, 0, __ATOMIC_RELAXED,
							__ATOMIC_RELAXED))
				break;
		} else if (diff < 0) {
			return -ENOMEM;
		} else {
			pos = __atomic_load_n(&r->enq, __ATOMIC_RELAXED);
		}
	}
	s->fn = fn;
	s->arg = arg;
	__atomic_store_n(&s->seq, pos + 1, __ATOMIC_RELEASE);
	return 0;
}

/* Single consumer. Returns 1 and the message, or 0 when empty. */
static int msg_ring_dequeue(struct msg_ring *r, void (**fn)(void *), void **arg)
{
	struct msg_slot *s = &r->slots[r->deq & (MSG_RING_SIZE - 1)];

	if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != r->deq + 1)
		return 0;
	*fn = s->fn;
	*arg = s->arg;
	__atomic_store_n(&s->seq, r->deq + MSG_RING_SIZE, __ATOMIC_RELEASE);
	r->deq++;
	return 1;
}

/* spdk_thread_send_msg: enqueue, then kick the target's eventfd. */
static int send_msg(struct poll_group *g, void (*fn)(void *), void *arg)
{
	uint64_t one = 1;
	int rc = msg_ring_enqueue(&g->ring, fn, arg);

	if (rc)
		return rc;
	if (rr_write(g->msg_efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		return rr_env_error(errno, "write(msg_efd): %s", strerror(errno));
	return 0;
}

static void nvmf_rdma_qpair_clean_ibv_events(struct nvmf_rdma_qpair *rqpair)
{
	struct ibv_event_ctx *ctx = rqpair->last_wqe_reached_ctx;

	/* A message still in flight must find no qpair; it frees ctx itself. */
	if (ctx) {
		ctx->rqpair = NULL;
		rqpair->last_wqe_reached_ctx = NULL;
	}
}

static void nvmf_rdma_qpair_destroy(struct episode *e, struct nvmf_rdma_qpair *rqpair)
{
	nvmf_rdma_qpair_clean_ibv_events(rqpair);
	e->qpair = NULL;
	rr_event("destroyed and freed nvmf_rdma_qpair");
	rr_free(rqpair);
}

static struct episode *episode_of(struct nvmf_rdma_qpair *rqpair)
{
	return (struct episode *)((char *)rqpair->group - offsetof(struct episode, group));
}

/* Destroys the qpair once every drain condition holds; safe teardown needs
 * both the LAST_WQE event and an empty send queue. */
static void nvmf_rdma_destroy_drained_qpair(struct nvmf_rdma_qpair *rqpair)
{
	if (!rqpair->to_close)
		return;
	if (rqpair->current_send_depth != 0)
		return;
	if (!rqpair->last_wqe_reached)
		return;
	nvmf_rdma_qpair_destroy(episode_of(rqpair), rqpair);
}

static void nvmf_rdma_handle_last_wqe_reached(struct nvmf_rdma_qpair *rqpair)
{
	rqpair->last_wqe_reached = 1;
	nvmf_rdma_destroy_drained_qpair(rqpair);
}

/* The message handler, run by the owner from its message ring. Not inlined so
 * that a sanitizer report names it as upstream's did. */
__attribute__((noinline)) static void nvmf_rdma_qpair_process_last_wqe_event(void *arg)
{
	struct ibv_event_ctx *event_ctx = arg;
	struct nvmf_rdma_qpair *rqpair = event_ctx->rqpair;

	if (rqpair) {
		if (RR_FIXED)
			rqpair->last_wqe_reached_ctx = NULL;
		nvmf_rdma_handle_last_wqe_reached(rqpair);
		if (RR_BUGGY) {
			/* rqpair may be gone here: that is the bug. */
			rr_touch(rqpair, "write of last_wqe_reached_ctx");
			rqpair->last_wqe_reached_ctx = NULL;
		}
	}
	rr_free(event_ctx);
}

/* nvmf_rdma_send_qpair_last_wqe_event, on the acceptor. */
static int nvmf_rdma_send_qpair_last_wqe_event(struct nvmf_rdma_qpair *rqpair)
{
	struct ibv_event_ctx *ctx = rr_alloc(sizeof(*ctx), "spdk_nvmf_rdma_ibv_event_ctx");
	int rc;

	if (!ctx)
		return -ENOMEM;
	ctx->rqpair = rqpair;
	rqpair->last_wqe_reached_ctx = ctx;
	/* Opens: the owner finishing the drain before the message is queued. */
	rr_point("acceptor.send_msg");
	rc = send_msg(rqpair->group, nvmf_rdma_qpair_process_last_wqe_event, ctx);
	if (rc) {
		rqpair->last_wqe_reached_ctx = NULL;
		rr_free(ctx);
	}
	return rc;
}

/* The 2019 ancestor (spdk/spdk#858): the acceptor marked the qpair itself
 * and sent the qpair pointer as the message. If the poller's drain check runs
 * between the two, it sees every condition hold and frees the qpair; the
 * message then runs on freed memory. Its fix (dc84fbaa) moved the flag to
 * the owner and sent a separately allocated context the destroy path can
 * disarm: the design the buggy and fixed variants share. */
__attribute__((noinline)) static void nvmf_rdma_destroy_drained_qpair_msg(void *arg)
{
	struct nvmf_rdma_qpair *rqpair = arg;

	rr_touch(rqpair, "read of to_close");
	nvmf_rdma_destroy_drained_qpair(rqpair);
}

static int nvmf_rdma_send_last_wqe_2019(struct nvmf_rdma_qpair *rqpair)
{
	struct poll_group *group = rqpair->group;

	/* A write on the acceptor to a field the owner's poller reads. */
	rqpair->last_wqe_reached = 1;
	/* Opens: the owner's last drain check between the flag and the message. */
	rr_point("acceptor.send_msg");
	return send_msg(group, nvmf_rdma_destroy_drained_qpair_msg, rqpair);
}

/* The HCA raising an async event: queue it, then wake the fd's readers. */
static int device_raise_event(struct device_events *d, const struct async_event_rec *ev)
{
	uint32_t t = __atomic_load_n(&d->tail, __ATOMIC_RELAXED);
	uint64_t one = 1;

	d->q[t & (DEV_EVENTS - 1)] = *ev;
	__atomic_store_n(&d->tail, t + 1, __ATOMIC_RELEASE);
	if (rr_write(d->efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		return rr_env_error(errno, "write(dev_async_fd): %s", strerror(errno));
	return 0;
}

/* Consumes the async fd's wake-up count. In poll mode (SPDK's reactors spin
 * and the acceptor polls the device's async fd with a zero timeout on every
 * round) it returns 0 at once when nothing is pending; otherwise it sleeps in
 * read(). A controlled strategy always sleeps: a spinning thread would never
 * give up the run token. Returns 1 when a wake-up was consumed, 0 when not,
 * or -errno. */
static int async_fd_wait(struct device_events *d, int poll_mode)
{
	uint64_t count;
	ssize_t n;

	if (poll_mode && !rr_controlled()) {
		struct pollfd p = {.fd = d->efd, .events = POLLIN};
		int rc = rr_poll(&p, 1, 0);

		if (rc < 0)
			return rr_env_error(errno, "poll(dev_async_fd): %s", strerror(errno));
		if (rc == 0)
			return 0;
	}
	n = rr_read(d->efd, &count, sizeof(count));
	if (n != (ssize_t)sizeof(count))
		return rr_env_error(n < 0 ? errno : EIO, "read(dev_async_fd): %s",
				    n < 0 ? strerror(errno) : "short read");
	return 1;
}

/* ibv_get_async_event: waits until an event is queued and takes the oldest.
 * Returns 0 or -errno. */
static int ibv_get_async_event(struct device_events *d, int poll_mode,
			       struct async_event_rec *ev)
{
	while (__atomic_load_n(&d->tail, __ATOMIC_ACQUIRE) == d->head) {
		int rc = async_fd_wait(d, poll_mode);

		if (rc < 0)
			return rc;
	}
	*ev = d->q[d->head & (DEV_EVENTS - 1)];
	d->head++;
	return 0;
}

static void acceptor_give_up(struct episode *e)
{
	uint64_t one = 1;

	__atomic_store_n(&e->acceptor_failed, 1, __ATOMIC_RELAXED);
	/* Best effort: the owner also sees acceptor_failed on its next wake-up. */
	if (write(e->group.msg_efd, &one, sizeof(one)) < 0)
		rr_event("acceptor: write(msg_efd) failed: %s", strerror(errno));
}

/* The acceptor: waits for the device's async event and forwards LAST_WQE to
 * the qpair's poll group as a message. */
static void *acceptor_main(void *arg)
{
	struct episode *e = arg;
	struct async_event_rec ev = {0};
	struct nvmf_rdma_qpair *rqpair;
	int rc = 0;

	/* SPDK pins every reactor to its own core: the acceptor never shares
	 * a CPU with the owner's spinning poll group (see rr_pin_role). */
	if (e->pin)
		rc = rr_pin_role("acceptor");
	if (!rc)
		rc = ibv_get_async_event(&e->dev, e->poll_mode, &ev);
	if (rc) {
		acceptor_give_up(e);
		return (void *)(intptr_t)rc;
	}
	rqpair = (struct nvmf_rdma_qpair *)(uintptr_t)ev.qp_context;
	if (ev.event_type != IBV_EVENT_QP_LAST_WQE_REACHED) {
		/* Only the owner's "episode failed" wake-up is anything else;
		 * the owner has recorded the error already. */
		return NULL;
	}
	/* Opens: the owner draining the CQ while the event is being handled. */
	rr_point("acceptor.got_event");
	/* ibv_ack_async_event, logging, the context allocation upstream. */
	rr_work_us(e->event_work_us);
	if (RR_NO_INDIRECTION)
		rc = nvmf_rdma_send_last_wqe_2019(rqpair);
	else
		rc = nvmf_rdma_send_qpair_last_wqe_event(rqpair);
	if (rc) {
		if (rc == -ENOMEM)
			rc = rr_env_error(ENOMEM, "send_msg(last_wqe_event): %s", strerror(ENOMEM));
		acceptor_give_up(e);
		return (void *)(intptr_t)rc;
	}
	return NULL;
}

/* ibv_modify_qp(IBV_QPS_ERR) as the HCA answers it: each outstanding send
 * completes with a flush error, and a QP attached to an SRQ raises
 * IBV_EVENT_QP_LAST_WQE_REACHED on the device's async fd. */
static int device_qp_to_error(struct episode *e, struct nvmf_rdma_qpair *rqpair)
{
	struct wc_rec wc[MAX_SEND_DEPTH];
	struct async_event_rec ev = {
		.qp_context = (uint64_t)(uintptr_t)rqpair,
		.event_type = IBV_EVENT_QP_LAST_WQE_REACHED,
	};
	size_t len = (size_t)e->send_depth * sizeof(wc[0]);

	memset(wc, 0, sizeof(wc));
	for (long long i = 0; i < e->send_depth; i++) {
		wc[i].wr_id = (uint64_t)i;
		wc[i].status = IBV_WC_WR_FLUSH_ERR;
	}
	/* At most PIPE_BUF bytes into an empty pipe: one atomic write. */
	if (rr_write(e->cq_fd[1], wc, len) != (ssize_t)len)
		return rr_env_error(errno, "write(cq_fd): %s", strerror(errno));
	return device_raise_event(&e->dev, &ev);
}

/* nvmf_rdma_close_qpair: the host disconnected. */
static int nvmf_rdma_close_qpair(struct episode *e, struct nvmf_rdma_qpair *rqpair)
{
	rqpair->to_close = 1;
	int rc = device_qp_to_error(e, rqpair);

	if (rc)
		return rc;
	nvmf_rdma_destroy_drained_qpair(rqpair);
	return 0;
}

/* msg_queue_run_batch. */
static int msg_queue_run_batch(struct episode *e)
{
	uint64_t count;
	void (*fn)(void *);
	void *arg;

	if (read(e->group.msg_efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return rr_env_error(errno, "read(msg_efd): %s", strerror(errno));
	while (msg_ring_dequeue(&e->group.ring, &fn, &arg)) {
		fn(arg);
		e->msgs_run++;
	}
	return 0;
}

/* nvmf_rdma_poller_poll: reap up to cq_batch work completions. */
static int nvmf_rdma_poller_poll(struct episode *e)
{
	struct wc_rec wc[MAX_CQ_BATCH];
	struct nvmf_rdma_qpair *rqpair = e->qpair;
	ssize_t n = read(e->cq_fd[0], wc, (size_t)e->cq_batch * sizeof(wc[0]));

	if (n < 0) {
		if (errno == EAGAIN)
			return 0;
		return rr_env_error(errno, "read(cq_fd): %s", strerror(errno));
	}
	if (n % (ssize_t)sizeof(wc[0]))
		return rr_env_error(EIO, "read(cq_fd): torn work completion (%zd bytes)", n);
	for (ssize_t i = 0; i < n / (ssize_t)sizeof(wc[0]); i++) {
		/* The flushed request's completion: release its buffers and
		 * complete it back to the nvmf layer. */
		rr_work_us(e->cqe_work_us);
		rqpair->current_send_depth--;
	}
	nvmf_rdma_destroy_drained_qpair(rqpair);
	return 0;
}

/* The owner's poll loop (thread_poll in interrupt mode) until the qpair is
 * gone. Messages run before pollers in every round, as in SPDK. */
static int poll_group_run(struct episode *e)
{
	int rc;

	/* The poll group outlives the qpair: it runs until the episode's one
	 * LAST_WQE message has run too, wherever the qpair was destroyed. */
	while (e->qpair || e->msgs_run == 0) {
		struct pollfd pfd[2] = {
			{.fd = e->group.msg_efd, .events = POLLIN},
			{.fd = e->cq_fd[0], .events = POLLIN},
		};

		if (rr_poll(pfd, 2, -1) < 0)
			return rr_env_error(errno, "poll(poll group): %s", strerror(errno));
		if (__atomic_load_n(&e->acceptor_failed, __ATOMIC_RELAXED))
			return -EIO;
		/* Opens: the LAST_WQE message arriving before or after this batch. */
		rr_point("owner.msg_batch");
		rc = msg_queue_run_batch(e);
		if (rc)
			return rc;
		if (!e->qpair)
			continue;
		/* Opens: the drain's last completions overtaking the message. */
		rr_point("owner.cq_poll");
		rc = nvmf_rdma_poller_poll(e);
		if (rc)
			return rc;
	}
	return 0;
}

static int make_pipe(int fds[2], int flags, const char *what)
{
	if (pipe2(fds, O_CLOEXEC | flags) < 0) {
		fds[0] = fds[1] = -1;
		return rr_env_error(errno, "pipe2(%s): %s", what, strerror(errno));
	}
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0 && rr_close(*fd) < 0)
		rr_event("close(%d): %s", *fd, strerror(errno));
	*fd = -1;
}

static long long param_in(const char *name, long long lo, long long hi, int *rc)
{
	long long v = rr_param_int(name);

	if (v < lo || v > hi) {
		*rc = rr_env_error(EINVAL, "parameter %s=%lld out of range [%lld, %lld]", name, v,
				   lo, hi);
		return lo;
	}
	return v;
}

static int episode_params(struct episode *e)
{
	int rc = 0;

	e->send_depth = param_in("send_depth", 1, MAX_SEND_DEPTH, &rc);
	e->cq_batch = param_in("cq_batch", 1, MAX_CQ_BATCH, &rc);
	e->cqe_work_us = param_in("cqe_work_us", 0, 1000000, &rc);
	e->event_work_us = param_in("event_work_us", 0, 1000000, &rc);
	e->connected_us = param_in("connected_us", 0, 1000000, &rc);
	e->pin = (int)param_in("pin", 0, 1, &rc);
	e->poll_mode = (int)param_in("poll_mode", 0, 1, &rc);
	return rc;
}

static int last_wqe_uaf_iterate(void *state)
{
	struct episode e;
	struct rr_thread *acceptor = NULL;
	struct nvmf_rdma_qpair *rqpair;
	void *res;
	int rc;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.group.msg_efd = e.dev.efd = -1;
	e.cq_fd[0] = e.cq_fd[1] = -1;
	rc = episode_params(&e);
	if (rc)
		return rc;
	msg_ring_init(&e.group.ring);
	e.group.msg_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e.group.msg_efd < 0)
		return rr_env_error(errno, "eventfd: %s", strerror(errno));
	rr_fd_name(e.group.msg_efd, "msg_efd");
	e.dev.efd = eventfd(0, EFD_CLOEXEC);
	if (e.dev.efd < 0) {
		rc = rr_env_error(errno, "eventfd: %s", strerror(errno));
		goto out;
	}
	rr_fd_name(e.dev.efd, "dev_async_fd");
	if ((rc = make_pipe(e.cq_fd, O_NONBLOCK, "cq_fd")) != 0)
		goto out;
	rr_fd_name(e.cq_fd[0], "cq_fd");
	rr_fd_name(e.cq_fd[1], "cq_fd (device side)");

	/* nvmf_rdma_connect: the qpair, with sends in flight when the host
	 * goes away. */
	rqpair = rr_alloc(sizeof(*rqpair), "nvmf_rdma_qpair");
	if (!rqpair) {
		rc = -ENOMEM;
		goto out;
	}
	rqpair->group = &e.group;
	rqpair->current_send_depth = (int)e.send_depth;
	e.qpair = rqpair;

	acceptor = rr_thread_start("acceptor", acceptor_main, &e);
	if (!acceptor) {
		rr_free(rqpair);
		e.qpair = NULL;
		rc = -EAGAIN;
		goto out;
	}
	rc = e.pin ? rr_pin_role("owner") : 0;
	/* The connection serves I/O for a while before the host disconnects. */
	if (rc == 0) {
		rr_work_us(e.connected_us);
		rc = nvmf_rdma_close_qpair(&e, rqpair);
	}
	if (rc == 0)
		rc = poll_group_run(&e);
	if (rc && __atomic_load_n(&e.dev.tail, __ATOMIC_RELAXED) == 0) {
		/* The event was never raised: wake the acceptor with an event
		 * that is not LAST_WQE, so that it gives up. */
		struct async_event_rec bye = {.event_type = 0};

		/* A failure here is recorded as the error it is; the join
		 * below then waits for the watchdog. */
		(void)device_raise_event(&e.dev, &bye);
	}
	res = rr_thread_join(acceptor);
	if (!rc && res)
		rc = (int)(intptr_t)res;
	/* Only after an error can a message or the qpair be left over. */
	{
		void (*fn)(void *);
		void *arg;

		while (msg_ring_dequeue(&e.group.ring, &fn, &arg))
			if (fn == nvmf_rdma_qpair_process_last_wqe_event)
				rr_free(arg);
	}
	if (e.qpair) {
		rr_free(e.qpair);
		e.qpair = NULL;
	}
out:
	close_fd(&e.cq_fd[0]);
	close_fd(&e.cq_fd[1]);
	close_fd(&e.dev.efd);
	close_fd(&e.group.msg_efd);
	return rc;
}

static int last_wqe_uaf_setup(void **state)
{
	*state = NULL;
	return 0;
}

static const char *const last_wqe_uaf_roles[] = {"owner", "acceptor", NULL};

static const struct rr_variant last_wqe_uaf_variants[] = {
	{"buggy", 1, "43f6d338: the handler clears last_wqe_reached_ctx after the call "
		     "that may free the qpair", RR_EXPECT_FINDING},
	{"fixed", 0, "5e156a6e: cleared before the call", RR_EXPECT_FINDING},
	{"no_indirection", 1, "the 2019 ancestor spdk/spdk#858: the acceptor sets "
			      "last_wqe_reached itself and sends the qpair pointer; the "
			      "poller frees the qpair before the message runs", RR_EXPECT_FINDING},
	{NULL, 0, NULL, RR_EXPECT_FINDING},
};

static const struct rr_param last_wqe_uaf_params[] = {
	{"send_depth", "128",
	 "sends outstanding when the host disconnects (current_send_depth; upstream's "
	 "abort test runs at queue depth 128); each completes with a flush error on "
	 "the owner's CQ (1..256)"},
	{"cq_batch", "32",
	 "work completions the CQ poller reaps per round (upstream polls 32 at a "
	 "time); messages run between rounds (1..64)"},
	{"cqe_work_us", "32",
	 "owner's work per flushed completion (request completion upstream). The "
	 "drain takes about send_depth*cqe_work_us and the bug needs the LAST_WQE "
	 "message to miss every round but the last, so at the defaults (about 4 ms "
	 "against microseconds for the acceptor) plain looping rarely hits it"},
	{"event_work_us", "1",
	 "acceptor's work between reading the async event and sending the message"},
	{"connected_us", "20",
	 "owner's work while the connection is up, before the disconnect"},
	{"poll_mode", "1",
	 "1: the acceptor polls the async fd with a zero timeout in a loop, as "
	 "SPDK's spinning reactors do (free-running strategies; controlled ones "
	 "always block); 0: it sleeps in read() and pays the wake-up latency"},
	{"pin", "1",
	 "1: owner and acceptor each pinned to its own CPU under free-running strategies, "
	 "as SPDK pins reactors (needs 2 CPUs, else ignored); 0: let the kernel place them"},
	{NULL, NULL, NULL},
};

RR_DEFINE_SCENARIO(last_wqe_uaf) = {
	.name = "last_wqe_uaf",
	.upstream = "spdk/spdk#3541 (fix 5e156a6e)",
	.summary = "nvmf/rdma: the LAST_WQE_REACHED message handler writes into a qpair it "
		   "just destroyed",
	.symptom = "heap-use-after-free WRITE of size 8 in "
		   "nvmf_rdma_qpair_process_last_wqe_event (freed nvmf_rdma_qpair)",
	.roles = last_wqe_uaf_roles,
	.variants = last_wqe_uaf_variants,
	.params = last_wqe_uaf_params,
	.setup = last_wqe_uaf_setup,
	.iterate = last_wqe_uaf_iterate,
	.teardown = NULL,
};
