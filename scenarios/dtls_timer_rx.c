/*
 * dtls_timer_rx: the DTLS retransmit timer fires on the main thread while the
 * receive thread closes and frees the same connection.
 *
 * Upstream: baresip/baresip#3175 "Valgrind invalid read test_call_webrtc". In
 * receive-thread mode (RECEIVE_MODE_THREAD) valgrind saw an invalid read of
 * size 8 in BIO_copy_next_retry under BIO_ctrl, called from libre's DTLS timer
 * handler timeout() (baresip/re src/tls/openssl/tls_udp.c, the call
 * DTLSv1_handle_timeout(tc->ssl)), on a block freed by BIO_free; the same
 * report carries a SIGSEGV at address 0x30. baresip/baresip#3190 "resolved" it
 * by skipping the test in receive-thread mode; the race itself is still there.
 *
 * Mapping (ours -> libre):
 *   struct tls_conn, tc->ssl, tc->tmr  -> struct tls_conn, tc->ssl, tc->tmr
 *   conn_timeout()                     -> timeout(): DTLSv1_handle_timeout(tc->ssl)
 *   check_timer()                      -> check_timer(): re-arm from DTLSv1_get_timeout
 *   sock_recv() / conn_recv()          -> recv_handler() / conn_recv() on the RX thread
 *   conn_close() / tls_close()         -> conn_close() / tls_close(): tmr_cancel, SSL_free
 *   app_conn_closed()                  -> the application's dtls close handler, which
 *                                         mem_deref()s the connection
 *   struct mainloop, main_poll()       -> struct tmrl, tmr_poll(): takes a due timer off
 *                                         the list under the list lock, unlocks, calls it
 *   bio_out_write()                    -> bio_write(): BIO data is tc, sends on the socket
 *   role main / rx / peer              -> baresip's main thread / RTP RX thread / remote
 *
 * The episode: main connects (ClientHello) and owns the timer list; the peer
 * is a real OpenSSL DTLS server on loopback UDP that requires a client
 * certificate the client does not have. The network loses the client's first
 * copy of its last flight (peer_drop), so the handshake waits on main's
 * retransmit timer; the retransmission reaches the peer, which rejects it with
 * a fatal handshake_failure alert, and rx closes the connection on that alert.
 *
 *   main (timer list)                       rx (receive thread)
 *   tmr_poll: takes tc->tmr off the list
 *   timeout(tc): DTLSv1_handle_timeout
 *     sends the first retransmitted ------> peer rejects it: fatal alert
 *     record                                conn_recv: SSL_do_handshake fails
 *                                           conn_close: tmr_cancel (too late),
 *                                             SSL_free(tc->ssl), tc->ssl = NULL
 *                                           close handler: frees tc
 *     BIO_ctrl(flush) on the freed SSL's write buffer BIO: BIO_copy_next_retry
 *       reads next_bio->flags, next_bio now NULL: SIGSEGV at 0x30
 *   check_timer(tc): tc freed, or tc->ssl NULL: use after free / SIGSEGV
 *
 * The first of those is upstream's own stack: during the handshake OpenSSL
 * writes through a buffering BIO pushed on top of our output BIO, and
 * SSL_free pops it (next_bio = NULL) before freeing it; under ASan this
 * scenario reports exactly "SEGV on unknown address 0x000000000030" in
 * BIO_copy_next_retry < BIO_ctrl < DTLSv1_handle_timeout < conn_timeout. The
 * others are use-after-frees of our tls_conn (rr_alloc'd, so ASan and the
 * quarantine both see them) and, under TSan, rx's SSL_do_handshake/SSL_free
 * freeing what main's DTLSv1_handle_timeout was reading.
 *
 * The mirror ordering (main's application hangs up and releases the
 * connection while rx is inside SSL_do_handshake with the peer's alert, the
 * handshake-time counterpart of libre's SSL_read loop) is the same missing
 * rule seen from the other side; it is reachable with
 * --param peer_delay_us=<retransmit_us> --param hangup_us=<2*retransmit_us>,
 * which lines the hang-up, the second timer and the alert up on one instant.
 *
 * Invariant the fix restores: nothing reaches tc->ssl after the connection is
 * closed, and tc itself is freed only when neither main (timer, application)
 * nor rx (the socket's connection table, an in-progress receive) can still
 * reach it. fixed: a per-connection lock and a `closed` flag; the timer
 * handler and the receive path take the lock and do nothing once closed; the
 * timer cancel and SSL_free happen under the same lock; one reference per
 * side. main_thread: rx only hands datagrams to main through a queue, so every
 * use of the connection happens on main (the other design upstream discussed).
 *
 * Time. OpenSSL 3.0 keeps its own DTLS deadline on the real clock and also
 * checks it inside every SSL_do_handshake/SSL_read (dtls1_read_bytes and
 * dtls1_read_failed call dtls1_handle_timeout), and rounds anything under
 * 15 ms down to "expired". A timer_cb of a few milliseconds therefore makes
 * the first SSL_do_handshake send the ClientHello 13 times and fail ("read
 * timeout expired") with memory BIOs. So OpenSSL's deadline is set an hour
 * away (timer_cb) and never expires on its own; the retransmit timer is the
 * harness's (retransmit_us, virtual under controlled strategies), and when it
 * fires the handler moves OpenSSL's deadline into the past so that
 * DTLSv1_handle_timeout agrees and really retransmits. OpenSSL 3.0 and 3.1
 * hand their rbio the address of that deadline (BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT
 * with &s->d1->next_timeout, which the dgram BIO keeps for SO_RCVTIMEO); our
 * input BIO keeps the address (checked on 3.0.19: after the poke
 * DTLSv1_handle_timeout retransmits and re-arms). Later versions keep the
 * deadline as an OSSL_TIME and need not hand out its address, so there the
 * handler only calls DTLSv1_handle_timeout (no retransmission) and the run
 * says so (env note "dtls_timer").
 */
#define _GNU_SOURCE /* pipe2 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "racerepro.h"

enum {
	DGRAM_MAX = 2048,
	RXQ_MAX = 16,   /* main_thread: datagrams queued for main */
	TMRL_MAX = 2,   /* main's timer list: the retransmit and the hang-up timer */
	MTU_DEFAULT = 1400, /* libre's values */
	MTU_FALLBACK = 548,
	DTLS_RT_HANDSHAKE = 22,
	DTLS_HS_CERTIFICATE = 11,
};

/* OpenSSL's own DTLS deadline: far enough that it never expires by itself. */
#define OSSL_TIMER_US (3600u * 1000000u)

/* ------------------------------------------------------------------------ */
/* Objects                                                                   */
/* ------------------------------------------------------------------------ */

/* libre struct tmr: an entry on main's timer list. */
struct tmr {
	struct rr_timer t;
	void (*th)(void *arg);
	void *arg;
	int linked;
};

struct dgram {
	size_t len;
	unsigned char buf[DGRAM_MAX];
};

/* main's event loop: the timer list (libre struct tmrl) and, for the
 * main_thread variant, the queue of datagrams rx hands over. */
struct mainloop {
	struct rr_mutex lock;
	struct rr_cond wake;
	struct tmr *timers[TMRL_MAX];
	struct dgram q[RXQ_MAX];
	unsigned q_head, q_len;
	int conn_closed; /* set by the application's close handler */
	int close_err;
};

/* One UDP endpoint as OpenSSL's BIOs see it; the first member of both the
 * connection and the peer, so that a BIO's data pointer is the object. */
struct dgram_end {
	int fd;
	struct sockaddr_in to;
	unsigned char in[DGRAM_MAX]; /* the input BIO: one datagram at a time */
	size_t in_len, in_off;
	struct timeval *ossl_deadline; /* &s->d1->next_timeout (OpenSSL 3.0/3.1) */
};

struct dtls_sock;

/* libre struct tls_conn. */
struct tls_conn {
	struct dgram_end end;
	SSL *ssl;
	struct tmr tmr;
	struct dtls_sock *sock;
	struct mainloop *loop;
	uint64_t retransmit_ns;
	int expire_by_deadline;
	int up;
	void (*closeh)(int err, void *arg);
	void *arg;
	/* The fix. */
	struct rr_mutex lock;
	int closed;
	int refs; /* under sock->lock: the connection table's, main's, rx's lookups */
};

/* libre struct dtls_sock: the UDP socket and its connection table. libre's
 * hash is not locked either; that is another unsynchronized access, kept out
 * (locked in every variant) so that TSan names #3175's race, not this one. */
struct dtls_sock {
	int fd;
	struct rr_mutex lock; /* guards conn; fixed: also every tls_conn.refs */
	struct tls_conn *conn;
};

/* The remote DTLS server. */
struct dtls_peer {
	struct dgram_end end;
	SSL *ssl;
	int failed;
	long long drop_left;
	uint64_t latency_ns;
	uint64_t delay_ns;
};

struct episode {
	struct mainloop loop;
	struct dtls_sock sock;
	struct tls_conn *tc; /* the application's reference */
	struct dtls_peer *peer;
	struct tmr hangup;
	int stop_rd, stop_wr;
	long long work_us;
};

struct state {
	SSL_CTX *cli_ctx;
	SSL_CTX *srv_ctx;
	BIO_METHOD *in_meth;
	BIO_METHOD *out_meth;
	int expire_by_deadline;
	struct episode ep;
};

/* ------------------------------------------------------------------------ */
/* The fix's lock, flag and references (`git grep -n RR_FIXED` reads as it) */
/* ------------------------------------------------------------------------ */

static void conn_lock(struct tls_conn *tc)
{
	if (RR_FIXED)
		rr_mutex_lock(&tc->lock);
}

static void conn_unlock(struct tls_conn *tc)
{
	if (RR_FIXED)
		rr_mutex_unlock(&tc->lock);
}

/* fixed: a closed connection is left alone by every path. */
static int conn_is_closed(const struct tls_conn *tc)
{
	return RR_FIXED && tc->closed;
}

/* fixed: drops one reference; the last one frees the object. */
static void conn_put(struct tls_conn *tc)
{
	int left;

	rr_mutex_lock(&tc->sock->lock);
	left = --tc->refs;
	rr_mutex_unlock(&tc->sock->lock);
	if (left)
		return;
	rr_mutex_destroy(&tc->lock);
	rr_event("freed tls_conn (last reference)");
	rr_free(tc);
}

/* ------------------------------------------------------------------------ */
/* main's timer list (libre tmr.c)                                           */
/* ------------------------------------------------------------------------ */

static void tmr_start(struct mainloop *l, struct tmr *t, const char *name, uint64_t delay_ns,
		      void (*th)(void *), void *arg)
{
	rr_mutex_lock(&l->lock);
	rr_timer_start(&t->t, name, delay_ns);
	t->th = th;
	t->arg = arg;
	if (!t->linked) {
		for (int i = 0; i < TMRL_MAX; i++) {
			if (!l->timers[i]) {
				l->timers[i] = t;
				t->linked = 1;
				break;
			}
		}
	}
	rr_cond_broadcast(&l->wake);
	rr_mutex_unlock(&l->lock);
}

static void tmr_unlink_locked(struct mainloop *l, struct tmr *t)
{
	for (int i = 0; i < TMRL_MAX; i++)
		if (l->timers[i] == t)
			l->timers[i] = NULL;
	t->linked = 0;
	rr_timer_cancel(&t->t);
	t->th = NULL;
}

static void tmr_cancel(struct mainloop *l, struct tmr *t)
{
	rr_mutex_lock(&l->lock);
	tmr_unlink_locked(l, t);
	rr_mutex_unlock(&l->lock);
}

/* The earliest armed timer, or NULL; caller holds l->lock. */
static struct tmr *tmr_earliest_locked(struct mainloop *l)
{
	struct tmr *best = NULL;

	for (int i = 0; i < TMRL_MAX; i++) {
		struct tmr *t = l->timers[i];
		if (t && t->t.armed && (!best || t->t.deadline_ns < best->t.deadline_ns))
			best = t;
	}
	return best;
}

/* ------------------------------------------------------------------------ */
/* BIOs: input from datagrams that rx received, output through rr_sendto     */
/* ------------------------------------------------------------------------ */

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	BIO_set_data(b, NULL);
	return 1;
}

static int bio_destroy(BIO *b)
{
	BIO_set_init(b, 0);
	BIO_set_data(b, NULL);
	return 1;
}

static int bio_in_read(BIO *b, char *buf, int len)
{
	void *obj = BIO_get_data(b);
	struct dgram_end *e = obj;
	size_t n;

	rr_touch(obj, "input BIO read");
	BIO_clear_retry_flags(b);
	if (e->in_off >= e->in_len || len <= 0) {
		BIO_set_retry_read(b);
		return -1;
	}
	n = e->in_len - e->in_off;
	if (n > (size_t)len)
		n = (size_t)len;
	memcpy(buf, e->in + e->in_off, n);
	e->in_off += n;
	return (int)n;
}

static long bio_in_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	void *obj = BIO_get_data(b);
	struct dgram_end *e = obj;

	switch (cmd) {
	case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT:
		/* OpenSSL (re)started or stopped its DTLS timer: keep the
		 * address of its deadline for conn_timeout() (see the top). */
		rr_touch(obj, "input BIO ctrl");
		e->ossl_deadline = ptr;
		return 1;
	case BIO_CTRL_PENDING:
		rr_touch(obj, "input BIO ctrl");
		return (long)(e->in_len - e->in_off);
	case BIO_CTRL_FLUSH:
		return 1;
	}
	return 0;
}

/* libre bio_write(): the BIO's data is the connection itself. */
static int bio_out_write(BIO *b, const char *buf, int len)
{
	void *obj = BIO_get_data(b);
	struct dgram_end *e = obj;
	ssize_t n;

	/* Opens: another thread closes the connection while this one is inside
	 * OpenSSL sending (main retransmitting from its timer, rx sending a
	 * flight), and OpenSSL then goes on with a freed SSL. */
	rr_point("conn.send");
	rr_touch(obj, "bio_write");
	n = rr_sendto(e->fd, buf, (size_t)len, 0, (const struct sockaddr *)&e->to, sizeof e->to);
	if (n < 0)
		return -1;
	return len;
}

static long bio_out_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_DGRAM_QUERY_MTU:
		return MTU_DEFAULT;
	case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
		return MTU_FALLBACK;
	}
	return 0;
}

static int attach_bios(struct state *s, SSL *ssl, void *obj)
{
	BIO *in = BIO_new(s->in_meth);
	BIO *out = BIO_new(s->out_meth);

	if (!in || !out) {
		BIO_free(in);
		BIO_free(out);
		ERR_clear_error();
		return rr_env_error(ENOMEM, "BIO_new: out of memory");
	}
	BIO_set_data(in, obj);
	BIO_set_data(out, obj);
	SSL_set_bio(ssl, in, out); /* the SSL owns both from here */
	return 0;
}

/* OpenSSL's DTLS timer duration: an hour, so that only the harness timer
 * decides when a retransmission happens. */
static unsigned int ossl_timer_cb(SSL *ssl, unsigned int timer_us)
{
	return OSSL_TIMER_US;
}

/* ------------------------------------------------------------------------ */
/* The connection (libre tls_udp.c)                                          */
/* ------------------------------------------------------------------------ */

static void conn_timeout(void *arg);

/* libre check_timer(): re-arm the retransmit timer while OpenSSL runs one. */
static void check_timer(struct tls_conn *tc)
{
	struct timeval tv = {0, 0};

	if (DTLSv1_get_timeout(tc->ssl, &tv) == 1)
		tmr_start(tc->loop, &tc->tmr, "retransmit", tc->retransmit_ns, conn_timeout, tc);
	else
		tmr_cancel(tc->loop, &tc->tmr);
}

/* libre tls_close(). */
static void tls_close(struct tls_conn *tc)
{
	int r;

	if (!tc->ssl)
		return;
	r = SSL_shutdown(tc->ssl);
	if (r <= 0)
		ERR_clear_error();
	SSL_free(tc->ssl); /* frees both BIOs and OpenSSL's deadline with them */
	rr_event("SSL_free(tc->ssl)");
	tc->ssl = NULL;
	tc->end.ossl_deadline = NULL;
}

/* libre conn_close(); fixed: the caller holds tc->lock. */
static void conn_close(struct tls_conn *tc, int err)
{
	if (RR_FIXED)
		tc->closed = 1;
	tmr_cancel(tc->loop, &tc->tmr);
	tls_close(tc);
	/* Opens: the other thread reads tc->ssl == NULL before the close
	 * handler releases tc (DTLSv1_*(NULL): SIGSEGV in SSL_ctrl). */
	rr_point("conn.ssl_freed");
	tc->up = 0;
	if (tc->closeh)
		tc->closeh(err, tc->arg);
}

/* libre timeout(): main's retransmit timer handler. */
static void conn_timeout(void *arg)
{
	struct tls_conn *tc = arg;
	struct episode *ep;
	long r;

	rr_touch(tc, "timeout");
	conn_lock(tc);
	if (conn_is_closed(tc)) {
		conn_unlock(tc);
		return;
	}
	/* Opens: rx frees the SSL (or clears tc->ssl) after the handler has
	 * started, before it reads tc->ssl. */
	rr_point("main.timeout");
	rr_touch(tc, "timeout: DTLSv1_handle_timeout(tc->ssl)");
	ep = tc->arg;
	if (tc->expire_by_deadline && tc->ssl && tc->end.ossl_deadline) {
		/* The harness timer fired: make OpenSSL agree (see the top). */
		tc->end.ossl_deadline->tv_sec = 1;
		tc->end.ossl_deadline->tv_usec = 0;
	}
	r = DTLSv1_handle_timeout(tc->ssl);
	rr_event("DTLSv1_handle_timeout: %ld", r);
	/* The rest of the handler's work (upstream: logging, check_timer,
	 * the timer list), during which the retransmission is in flight. */
	rr_work_us(ep->work_us);
	/* Opens: the retransmission provoked the peer's alert and rx closes and
	 * frees the connection while this handler still runs. */
	rr_point("main.check_timer");
	rr_touch(tc, "timeout: check_timer(tc)");
	if (r >= 0) {
		check_timer(tc);
	} else {
		ERR_clear_error();
		conn_close(tc, ETIMEDOUT);
	}
	conn_unlock(tc);
}

/* libre conn_recv(): a datagram for this connection, on rx. */
static void conn_recv(struct tls_conn *tc, const unsigned char *buf, size_t len)
{
	int r;

	rr_touch(tc, "conn_recv");
	conn_lock(tc);
	if (conn_is_closed(tc) || !tc->ssl || len > sizeof tc->end.in)
		goto out;
	/* feed the datagram to the input BIO */
	memcpy(tc->end.in, buf, len);
	tc->end.in_len = len;
	tc->end.in_off = 0;

	if (!tc->up) {
		ERR_clear_error();
		r = SSL_do_handshake(tc->ssl);
		/* Opens the mirror: main hangs up and frees the connection while
		 * rx is inside the handshake (libre: inside SSL_read). */
		rr_point("rx.handshake_returned");
		rr_touch(tc, "conn_recv: after SSL_do_handshake");
		if (r <= 0) {
			int err = SSL_get_error(tc->ssl, r);

			ERR_clear_error();
			if (err != SSL_ERROR_WANT_READ) {
				rr_event("handshake failed (SSL error %d): closing", err);
				conn_close(tc, EPROTO);
				goto out;
			}
		}
		check_timer(tc);
		if (!SSL_is_init_finished(tc->ssl))
			goto out;
		tc->up = 1;
	}
	for (;;) {
		unsigned char app[DGRAM_MAX];
		int n = SSL_read(tc->ssl, app, (int)sizeof app);

		if (n > 0)
			continue; /* the scenario carries no application data */
		r = SSL_get_error(tc->ssl, n);
		ERR_clear_error();
		if (r == SSL_ERROR_WANT_READ)
			break;
		conn_close(tc, r == SSL_ERROR_ZERO_RETURN ? ECONNRESET : EPROTO);
		break;
	}
out:
	/* buggy: after conn_close tc is gone, and this touches nothing */
	conn_unlock(tc);
}

/* libre recv_handler() + conn_lookup(): on rx (on main for main_thread). */
static void sock_recv(struct dtls_sock *sock, const unsigned char *buf, size_t len)
{
	struct tls_conn *tc;

	if (len < 1 || buf[0] < 20 || buf[0] > 63)
		return; /* not DTLS */
	rr_mutex_lock(&sock->lock);
	tc = sock->conn;
	if (RR_FIXED && tc)
		tc->refs++; /* rx's reference for this datagram */
	rr_mutex_unlock(&sock->lock);
	if (!tc)
		return;
	/* Opens the mirror: main hangs up and frees the connection after rx
	 * found it in the table. */
	rr_point("rx.conn_found");
	conn_recv(tc, buf, len);
	if (RR_FIXED)
		conn_put(tc);
}

/* The application's close handler: unlink the connection from the socket
 * (libre: hash_unlink in the destructor) and release it (mem_deref). */
static void app_conn_closed(int err, void *arg)
{
	struct episode *ep = arg;
	struct tls_conn *tc = ep->tc;

	rr_mutex_lock(&ep->sock.lock);
	if (ep->sock.conn == tc) {
		ep->sock.conn = NULL;
		if (RR_FIXED)
			tc->refs--; /* the table's reference; the caller still holds one */
	}
	rr_mutex_unlock(&ep->sock.lock);

	rr_mutex_lock(&ep->loop.lock);
	ep->loop.conn_closed = 1;
	ep->loop.close_err = err;
	rr_cond_broadcast(&ep->loop.wake);
	rr_mutex_unlock(&ep->loop.lock);

	if (!RR_FIXED) {
		/* mem_deref(tc): the application held the only reference */
		rr_event("freed tls_conn (close handler)");
		rr_free(tc);
	}
}

/* The application gives up on the handshake and hangs up, on main. */
static void app_hangup(void *arg)
{
	struct episode *ep = arg;
	struct tls_conn *tc = ep->tc;

	rr_touch(tc, "hangup");
	rr_event("application hangs up");
	conn_lock(tc);
	if (!conn_is_closed(tc))
		conn_close(tc, ETIMEDOUT);
	conn_unlock(tc);
}

/* ------------------------------------------------------------------------ */
/* Threads                                                                   */
/* ------------------------------------------------------------------------ */

/* Waits until FD has a datagram (1) or the episode stops (0); -errno. */
static int wait_datagram(int fd, int stop_fd)
{
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = stop_fd, .events = POLLIN}};
		int n = rr_poll(p, 2, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return rr_env_error(errno, "poll: %s", strerror(errno));
		}
		if (p[1].revents)
			return 0;
		if (p[0].revents)
			return 1;
	}
}

/* Receives one datagram; 0 when none was there after all. */
static ssize_t recv_datagram(int fd, unsigned char *buf, size_t cap)
{
	ssize_t n = rr_recvfrom(fd, buf, cap, MSG_DONTWAIT, NULL, NULL);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n < 0)
		return rr_env_error(errno, "recvfrom: %s", strerror(errno));
	return n;
}

/* libre's RX thread: the receive handler runs here. */
static void *rx_main(void *arg)
{
	struct episode *ep = arg;
	unsigned char buf[DGRAM_MAX];
	int rc;

	while ((rc = wait_datagram(ep->sock.fd, ep->stop_rd)) > 0) {
		ssize_t n = recv_datagram(ep->sock.fd, buf, sizeof buf);

		if (n < 0)
			return (void *)(intptr_t)n;
		if (n == 0)
			continue;
		if (rr_variant_is("main_thread")) {
			/* main_thread: hand the datagram to main, touch nothing */
			rr_mutex_lock(&ep->loop.lock);
			if (ep->loop.q_len < RXQ_MAX) {
				struct dgram *d = &ep->loop.q[(ep->loop.q_head + ep->loop.q_len) % RXQ_MAX];

				memcpy(d->buf, buf, (size_t)n);
				d->len = (size_t)n;
				ep->loop.q_len++;
				rr_cond_broadcast(&ep->loop.wake);
			}
			rr_mutex_unlock(&ep->loop.lock);
			continue;
		}
		sock_recv(&ep->sock, buf, (size_t)n);
	}
	return (void *)(intptr_t)rc;
}

/* The client's empty Certificate, the first message of its last flight. */
static int is_client_certificate(const unsigned char *buf, size_t len)
{
	return len > 13 && buf[0] == DTLS_RT_HANDSHAKE && buf[3] == 0 && buf[4] == 0 &&
	       buf[13] == DTLS_HS_CERTIFICATE;
}

/* The remote endpoint: a DTLS server that requires a client certificate. */
static void *peer_main(void *arg)
{
	struct episode *ep = arg;
	struct dtls_peer *p = ep->peer;
	unsigned char buf[DGRAM_MAX];
	int dropping = 0;
	int rc;

	while ((rc = wait_datagram(p->end.fd, ep->stop_rd)) > 0) {
		ssize_t n = recv_datagram(p->end.fd, buf, sizeof buf);
		int r;

		if (n < 0)
			return (void *)(intptr_t)n;
		if (n == 0 || p->failed)
			continue;
		/* The network loses the client's first copies of its last flight:
		 * every datagram from a Certificate up to the next one. */
		if (is_client_certificate(buf, (size_t)n)) {
			dropping = p->drop_left > 0;
			if (dropping) {
				p->drop_left--;
				rr_event("network lost the client's last flight");
			} else {
				/* The network and the remote endpoint before the
				 * alert: real time that takes no CPU from main, as a
				 * remote peer would not. Only free-running: under a
				 * controlled strategy the schedule alone decides
				 * when the alert arrives, and a virtual wait would
				 * only ever let main's handler finish first. */
				if (!rr_controlled())
					rr_sleep_ns(p->latency_ns);
				if (p->delay_ns)
					rr_sleep_ns(p->delay_ns); /* think time, harness clock */
			}
		}
		if (dropping)
			continue;
		memcpy(p->end.in, buf, (size_t)n);
		p->end.in_len = (size_t)n;
		p->end.in_off = 0;
		ERR_clear_error();
		r = SSL_do_handshake(p->ssl);
		if (r <= 0 && SSL_get_error(p->ssl, r) != SSL_ERROR_WANT_READ) {
			/* the fatal alert has gone out through the output BIO */
			rr_event("peer rejected the handshake");
			p->failed = 1;
		}
		ERR_clear_error();
	}
	return (void *)(intptr_t)rc;
}

/* ------------------------------------------------------------------------ */
/* main: the timer list and the episode                                      */
/* ------------------------------------------------------------------------ */

/* libre tmr_poll() as main's loop: runs due timers (and, for main_thread,
 * queued datagrams) until the connection is closed. */
static void main_poll(struct episode *ep)
{
	struct mainloop *l = &ep->loop;

	rr_mutex_lock(&l->lock);
	while (!l->conn_closed) {
		struct tmr *t;

		if (l->q_len) {
			struct dgram d = l->q[l->q_head];

			l->q_head = (l->q_head + 1) % RXQ_MAX;
			l->q_len--;
			rr_mutex_unlock(&l->lock);
			sock_recv(&ep->sock, d.buf, d.len);
			rr_mutex_lock(&l->lock);
			continue;
		}
		t = tmr_earliest_locked(l);
		if (t && rr_timer_due(&t->t)) {
			void (*th)(void *) = t->th;
			void *arg = t->arg;

			tmr_unlink_locked(l, t);
			rr_mutex_unlock(&l->lock);
			/* Opens: rx closes and frees the connection after main took
			 * its timer off the list (tmr_cancel is then a no-op) and
			 * before the handler runs. */
			rr_point("main.timer_taken");
			if (th)
				th(arg);
			rr_mutex_lock(&l->lock);
			continue;
		}
		if (t) {
			uint64_t now = rr_now_ns();
			uint64_t left = t->t.deadline_ns > now ? t->t.deadline_ns - now : 1;

			rr_cond_timedwait(&l->wake, &l->lock, left);
		} else {
			rr_cond_wait(&l->wake, &l->lock);
		}
	}
	rr_mutex_unlock(&l->lock);
}

static int udp_socket(struct sockaddr_in *addr, const char *name)
{
	socklen_t len = sizeof *addr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return rr_env_error(errno, "socket(AF_INET, SOCK_DGRAM): %s", strerror(errno));
	memset(addr, 0, sizeof *addr);
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)addr, sizeof *addr) < 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
		int err = errno;

		close(fd);
		return rr_env_error(err, "bind/getsockname(127.0.0.1:0): %s", strerror(err));
	}
	rr_fd_name(fd, name);
	return fd;
}

/* libre conn_alloc() + dtls_connect(), on main. */
static int conn_connect(struct state *s, struct episode *ep, const struct sockaddr_in *peer_addr)
{
	struct tls_conn *tc = rr_alloc(sizeof *tc, "tls_conn");
	int rc, r;

	if (!tc)
		return -ENOMEM;
	tc->end.fd = ep->sock.fd;
	tc->end.to = *peer_addr;
	tc->sock = &ep->sock;
	tc->loop = &ep->loop;
	tc->retransmit_ns = (uint64_t)rr_param_int("retransmit_us") * 1000u;
	tc->expire_by_deadline = s->expire_by_deadline;
	tc->closeh = app_conn_closed;
	tc->arg = ep;
	tc->refs = 2; /* fixed: the connection table's and the application's */
	rr_mutex_init(&tc->lock, "tc->lock");
	tc->ssl = SSL_new(s->cli_ctx);
	if (!tc->ssl) {
		ERR_clear_error();
		rr_mutex_destroy(&tc->lock);
		rr_free(tc);
		return rr_env_error(ENOMEM, "SSL_new(client): failed");
	}
	rc = attach_bios(s, tc->ssl, tc);
	if (rc) {
		SSL_free(tc->ssl);
		rr_mutex_destroy(&tc->lock);
		rr_free(tc);
		return rc;
	}
	SSL_set_read_ahead(tc->ssl, 1);
	DTLS_set_timer_cb(tc->ssl, ossl_timer_cb);
	SSL_set_connect_state(tc->ssl);
	ep->tc = tc;

	/* Connect first, then link into the socket's table where rx finds it.
	 * libre links first (hash_append in conn_alloc), which lets rx feed
	 * the peer's first flight into the SSL while main is still inside
	 * SSL_connect: the same missing lock, but a different window from
	 * #3175's, kept out of this scenario so that its findings are the
	 * timer's. Until it is linked, only main can reach tc. */
	ERR_clear_error();
	r = SSL_do_handshake(tc->ssl); /* sends the ClientHello */
	if (r <= 0 && SSL_get_error(tc->ssl, r) != SSL_ERROR_WANT_READ) {
		char msg[160];

		ERR_error_string_n(ERR_peek_error(), msg, sizeof msg);
		ERR_clear_error();
		SSL_free(tc->ssl);
		rr_mutex_destroy(&tc->lock);
		rr_free(tc);
		ep->tc = NULL;
		return rr_env_error(EPROTO, "SSL_connect: %s", msg);
	}
	check_timer(tc);
	rr_mutex_lock(&ep->sock.lock);
	ep->sock.conn = tc;
	rr_mutex_unlock(&ep->sock.lock);
	return 0;
}

static int peer_new(struct state *s, struct episode *ep, int fd, const struct sockaddr_in *client)
{
	struct dtls_peer *p = rr_alloc(sizeof *p, "dtls_peer");
	int rc;

	if (!p)
		return -ENOMEM;
	p->end.fd = fd;
	p->end.to = *client;
	p->drop_left = rr_param_int("peer_drop");
	p->delay_ns = (uint64_t)rr_param_int("peer_delay_us") * 1000u;
	p->latency_ns = (uint64_t)rr_param_int("peer_latency_us") * 1000u;
	p->ssl = SSL_new(s->srv_ctx);
	if (!p->ssl) {
		ERR_clear_error();
		rr_free(p);
		return rr_env_error(ENOMEM, "SSL_new(server): failed");
	}
	rc = attach_bios(s, p->ssl, p);
	if (rc) {
		SSL_free(p->ssl);
		rr_free(p);
		return rc;
	}
	SSL_set_read_ahead(p->ssl, 1);
	DTLS_set_timer_cb(p->ssl, ossl_timer_cb);
	SSL_set_accept_state(p->ssl);
	ep->peer = p;
	return 0;
}

static int join_result(struct rr_thread *t)
{
	return t ? (int)(intptr_t)rr_thread_join(t) : 0;
}

static int dtls_iterate(void *arg)
{
	struct state *s = arg;
	struct episode *ep = &s->ep;
	struct sockaddr_in caddr, paddr;
	struct rr_thread *rx = NULL, *peer = NULL;
	int stop[2];
	int peer_fd, rc, rc2;

	memset(ep, 0, sizeof *ep);
	ep->work_us = rr_param_int("work_us");
	ep->sock.fd = udp_socket(&caddr, "client udp");
	if (ep->sock.fd < 0)
		return ep->sock.fd;
	peer_fd = udp_socket(&paddr, "peer udp");
	if (peer_fd < 0) {
		rr_close(ep->sock.fd);
		return peer_fd;
	}
	if (pipe2(stop, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = rr_env_error(errno, "pipe2: %s", strerror(errno));
		rr_close(peer_fd);
		rr_close(ep->sock.fd);
		return rc;
	}
	ep->stop_rd = stop[0];
	ep->stop_wr = stop[1];
	rr_fd_name(stop[0], "stop");
	rr_mutex_init(&ep->loop.lock, "timer list");
	rr_cond_init(&ep->loop.wake, "main wake-up");
	rr_mutex_init(&ep->sock.lock, "sock->lock");

	rc = peer_new(s, ep, peer_fd, &caddr);
	if (!rc) {
		peer = rr_thread_start("peer", peer_main, ep);
		rx = rr_thread_start("rx", rx_main, ep);
		if (!peer || !rx)
			rc = -EAGAIN;
	}
	if (!rc)
		rc = conn_connect(s, ep, &paddr);
	if (!rc) {
		tmr_start(&ep->loop, &ep->hangup, "hangup",
			  (uint64_t)rr_param_int("hangup_us") * 1000u, app_hangup, ep);
		main_poll(ep);
		tmr_cancel(&ep->loop, &ep->hangup);
	}

	/* End of the episode: stop rx and the peer, then release what is left. */
	if (write(ep->stop_wr, "x", 1) != 1 && !rc)
		rc = rr_env_error(errno, "write(stop): %s", strerror(errno));
	rc2 = join_result(rx);
	rc = rc ? rc : rc2;
	rc2 = join_result(peer);
	rc = rc ? rc : rc2;
	if (RR_FIXED && ep->tc) {
		if (ep->sock.conn == ep->tc) { /* never closed (an error cut it short) */
			ep->sock.conn = NULL;
			ep->tc->refs--;
		}
		conn_put(ep->tc); /* the application's reference: the last one */
	}
	if (ep->peer) {
		SSL_free(ep->peer->ssl);
		rr_free(ep->peer);
	}
	rr_mutex_destroy(&ep->sock.lock);
	rr_cond_destroy(&ep->loop.wake);
	rr_mutex_destroy(&ep->loop.lock);
	rr_close(stop[0]);
	rr_close(stop[1]);
	rr_close(peer_fd);
	rr_close(ep->sock.fd);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Setup: one self-signed EC P-256 certificate and the two contexts          */
/* ------------------------------------------------------------------------ */

static int ssl_error(const char *what)
{
	char msg[160];

	ERR_error_string_n(ERR_peek_error(), msg, sizeof msg);
	ERR_clear_error();
	return rr_env_error(EPROTO, "%s: %s", what, msg);
}

static X509 *self_signed(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *name;

	if (!x)
		return NULL;
	name = X509_get_subject_name(x);
	if (!X509_set_version(x, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 7L * 24 * 3600) || !X509_set_pubkey(x, key) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"racerepro dtls peer", -1, -1, 0) ||
	    !X509_set_issuer_name(x, name) || X509_sign(x, key, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static BIO_METHOD *bio_method(const char *name, int in)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, name);

	if (!m)
		return NULL;
	if (!BIO_meth_set_create(m, bio_create) || !BIO_meth_set_destroy(m, bio_destroy) ||
	    !(in ? BIO_meth_set_read(m, bio_in_read) : BIO_meth_set_write(m, bio_out_write)) ||
	    !BIO_meth_set_ctrl(m, in ? bio_in_ctrl : bio_out_ctrl)) {
		BIO_meth_free(m);
		return NULL;
	}
	return m;
}

static void dtls_teardown(void *arg)
{
	struct state *s = arg;

	if (!s)
		return;
	SSL_CTX_free(s->cli_ctx);
	SSL_CTX_free(s->srv_ctx);
	BIO_meth_free(s->in_meth);
	BIO_meth_free(s->out_meth);
	free(s);
}

static int dtls_setup(void **out)
{
	struct state *s = calloc(1, sizeof *s);
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	unsigned long v = OpenSSL_version_num();
	int rc = 0;

	if (!s)
		return rr_env_error(ENOMEM, "calloc(state): %s", strerror(ENOMEM));
	/* 3.0 and 3.1 give the rbio &s->d1->next_timeout itself (see the top). */
	s->expire_by_deadline = (v >> 20) == 0x300 || (v >> 20) == 0x301;
	rr_env_note("dtls_timer", "%s: %s", OpenSSL_version(OPENSSL_VERSION),
		    s->expire_by_deadline
			    ? "the harness timer expires OpenSSL's deadline; real retransmissions"
			    : "OpenSSL's deadline is out of reach; the handler does not retransmit");

	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!key) {
		rc = ssl_error("EVP_PKEY_Q_keygen(EC P-256)");
		goto out;
	}
	cert = self_signed(key);
	if (!cert) {
		rc = ssl_error("self-signed X509");
		goto out;
	}
	s->in_meth = bio_method("racerepro dgram in", 1);
	s->out_meth = bio_method("racerepro dgram out", 0);
	s->cli_ctx = SSL_CTX_new(DTLS_client_method());
	s->srv_ctx = SSL_CTX_new(DTLS_server_method());
	if (!s->in_meth || !s->out_meth || !s->cli_ctx || !s->srv_ctx) {
		rc = ssl_error("SSL_CTX_new/BIO_meth_new");
		goto out;
	}
	if (!SSL_CTX_set_min_proto_version(s->cli_ctx, DTLS1_2_VERSION) ||
	    !SSL_CTX_set_min_proto_version(s->srv_ctx, DTLS1_2_VERSION) ||
	    SSL_CTX_use_certificate(s->srv_ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(s->srv_ctx, key) != 1 ||
	    SSL_CTX_check_private_key(s->srv_ctx) != 1) {
		rc = ssl_error("SSL_CTX setup");
		goto out;
	}
	/* Fresh state per episode: no session cache, no tickets. */
	SSL_CTX_set_session_cache_mode(s->cli_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_cache_mode(s->srv_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(s->srv_ctx, SSL_OP_NO_TICKET);
	/* The client verifies the fingerprint out of band, as WebRTC does. */
	SSL_CTX_set_verify(s->cli_ctx, SSL_VERIFY_NONE, NULL);
	/* The peer insists on a certificate the client does not have: it
	 * answers the client's last flight with a fatal alert. */
	SSL_CTX_set_verify(s->srv_ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	if (rc) {
		dtls_teardown(s);
		return rc;
	}
	*out = s;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Registration                                                              */
/* ------------------------------------------------------------------------ */

static const char *const roles[] = {"main", "rx", "peer", NULL};

static const struct rr_variant variants[] = {
	{"buggy", 1, "libre as shipped: main's timer handler and rx's close share tc with no lock", RR_EXPECT_FINDING},
	{"fixed", 0, "per-connection lock + closed flag; tc freed when main and rx both let go", RR_EXPECT_FINDING},
	{"main_thread", 0, "rx hands every datagram to main through a queue; only main uses tc", RR_EXPECT_FINDING},
	{0},
};

static const struct rr_param params[] = {
	{"retransmit_us", "10000",
	 "retransmit timeout on the harness clock (OpenSSL's default is 1 s; shortened so that "
	 "an episode is quick)"},
	{"work_us", "0",
	 "busy work in main's timer handler after DTLSv1_handle_timeout (upstream: logging and "
	 "check_timer); the window in which rx's close lands. At 0 plain looping hits the race "
	 "rarely"},
	{"peer_latency_us", "2000",
	 "network and remote endpoint time before the peer's alert, a real sleep under "
	 "free-running strategies only (controlled ones order the alert themselves): plain "
	 "looping hits only when main stalls this long inside its timer handler"},
	{"peer_drop", "1", "copies of the client's last flight that the network loses"},
	{"peer_delay_us", "0",
	 "the peer's think time (harness clock) before it rejects the client's certificate; "
	 "equal to retransmit_us it lines the alert up with main's next timer"},
	{"hangup_us", "200000",
	 "the application hangs up (main releases the connection) after this long on the "
	 "harness clock; the mirror ordering wants 2 x retransmit_us with peer_delay_us = "
	 "retransmit_us"},
	{0},
};

RR_DEFINE_SCENARIO(dtls_timer_rx) = {
	.name = "dtls_timer_rx",
	.upstream = "baresip/baresip#3175 (skipped by #3190)",
	.summary = "DTLS retransmit timer on main vs the receive thread closing the connection",
	.symptom = "timeout() -> DTLSv1_handle_timeout(tc->ssl) on a connection the RX thread "
		   "freed (valgrind invalid read in BIO_ctrl; SIGSEGV at 0x30)",
	.roles = roles,
	.variants = variants,
	.params = params,
	.setup = dtls_setup,
	.iterate = dtls_iterate,
	.teardown = dtls_teardown,
};
