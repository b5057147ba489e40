/*
 * echo_load: load client for DemoWeb's raw TCP echo ConnectionHandler, and the idle-connection count.
 *
 * Why C: on the benchmark box the client shares two cores with the server under test. A managed client
 * would spend more CPU per message than the server it measures and flatten every ratio between server
 * configurations; like wrk, this is a thin epoll loop whose cost per message is a recv and a send.
 *
 * usage: echo_load host port mode connections seconds [threads=1] [size] [depth]
 *
 *   pingpong  size=64 depth=1: send a message, wait for its whole echo, send the next
 *   inflight  size=4096 depth=4: keep depth messages of size bytes outstanding per connection
 *   stream    size=65536 depth=16: write continuously in size-byte writes, read back concurrently,
 *             never more than depth writes unechoed (a window, so buffers stay bounded)
 *   pipeline  HTTP/1.1 pipelining against DemoWeb's HTTP port (the TechEmpower shape): each connection
 *             writes `depth` (default 16) GET /plaintext requests at once, reads all their responses
 *             (each must be a 200 with a whole Content-Length body), then writes the next batch. A
 *             message is a response; its latency runs from its batch's write to its own last byte.
 *             wrk cannot give this p99 (see HttpLoadScenario.cs), which is why this mode exists.
 *             The port is the HTTP port; `size` is ignored (pass 0).
 *   upload    HTTP/1.1 POST /upload of `size` bytes (default 100 MiB) against DemoWeb's HTTP port, on one
 *             keep-alive connection with blocking sends, again and again until `seconds` have passed
 *             (at least once); each response must be a 200 whose body is the byte count the server
 *             read. A message is an upload, timed from its first request byte to its response's last.
 *             `connections` must be 1 and `threads` is ignored.
 *   idle      open `connections` connections (non-blocking, 128 connecting at a time), one HTTP/1.1
 *             keep-alive GET /plaintext each, read the whole 200 response, print "ready ...", then
 *             hold them idle until stdin closes or a line arrives (or `seconds` pass), then close them
 *             all. The port is the HTTP port here. A connection the server closes while idle is an error.
 *
 * The echo modes are one mechanism: a message is the next `size` bytes of the connection's byte
 * stream, and a new one is issued whenever an old one has come back whole. Every connection sends its
 * own pseudo-random stream (one xorshift-filled pattern, entered at an offset derived from the
 * connection index; the period is not a power of two so no write size lines up with it), and every
 * received byte is compared with the byte expected at that stream offset. After `seconds`, no new
 * messages are issued; each connection finishes what it started, half-closes, and must get every
 * byte back before the server's FIN. A mismatch, early EOF, reset or timeout exits 1 with the
 * connection index and stream offset.
 *
 * Output (stdout, one line, key=value): mode connections threads size depth seconds messages bytes
 * msgs_per_sec mib_per_sec p50_us p99_us errors. Only traffic inside the timed window is counted; the
 * caller does its own warm-up run. In upload mode every upload counts, the last one too, and seconds is
 * the time spent in uploads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* 2^20 - 3: not a multiple of any power of two, so a stream shifted by a whole write still mismatches. */
#define PATTERN_PERIOD 1048573u
/* Largest single send or compare; the pattern is extended by this much so any window is contiguous. */
#define MAX_CHUNK (256u * 1024u)
#define READ_BUFFER (256u * 1024u)
/* Round trips are histogrammed in 1 us buckets up to 1 s; slower ones land in the last bucket. */
#define HISTOGRAM_BUCKETS 1000000u
#define DRAIN_SECONDS 10
#define CONNECT_TIMEOUT_SECONDS 10
#define IDLE_OPEN_SECONDS 120
#define IDLE_OPENING 128
#define IDLE_RESPONSE_MAX 2048
/* Pipeline mode: room for a whole batch of responses (16 plaintext responses are about 2 KiB). */
#define PIPELINE_BUFFER (64u * 1024u)
/* Upload mode: how long one blocking send or receive may wait for the server before the run fails. A
   server with a 64-byte read buffer and busy neighbours is slow, but never this slow unless stuck. */
#define UPLOAD_STALL_SECONDS 120
#define UPLOAD_DEFAULT_SIZE (100u * 1024u * 1024u)

enum mode { MODE_PINGPONG, MODE_INFLIGHT, MODE_STREAM, MODE_PIPELINE, MODE_UPLOAD, MODE_IDLE };

struct conn {
    int fd;
    int index;
    int write_shut;
    int done;
    int server_closed; /* idle mode */
    uint64_t base;     /* where this connection's stream starts in the pattern */
    uint64_t sent;     /* bytes of the stream handed to the kernel */
    uint64_t received; /* bytes echoed back and verified */
    uint64_t target;   /* bytes issued (whole messages); sent catches up with it */
    uint64_t *stamps;  /* issue time of each message in flight, by message number % depth */
    char *response;    /* idle and pipeline modes: the HTTP response bytes read so far */
    size_t response_len;
};

struct worker {
    pthread_t thread;
    int epfd;
    struct conn *conns;
    int count;
    int draining;
    unsigned char *buffer;
    uint64_t messages;
    uint64_t bytes;
    uint64_t *histogram;
};

static enum mode g_mode;
static const char *g_mode_name;
static size_t g_size;
static int g_depth;
static int g_connections;
static double g_seconds;
static int g_threads = 1;
static uint64_t g_start_ns;
static uint64_t g_end_ns;
static struct sockaddr_storage g_addr;
static socklen_t g_addrlen;
static const char *g_host;
static const char *g_port;
static unsigned char *g_pattern;
static pthread_mutex_t g_fail_lock = PTHREAD_MUTEX_INITIALIZER;

static void fail(const char *format, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void fail(const char *format, ...)
{
    /* One message even if two threads fail at once; _exit so the other thread cannot run atexit. */
    pthread_mutex_lock(&g_fail_lock);
    va_list args;
    va_start(args, format);
    fputs("echo_load: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    fflush(stdout);
    _exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void build_pattern(void)
{
    g_pattern = malloc(PATTERN_PERIOD + MAX_CHUNK);
    if (g_pattern == NULL) {
        fail("out of memory for the pattern");
    }
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (uint32_t i = 0; i < PATTERN_PERIOD; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        g_pattern[i] = (unsigned char)(x >> 24);
    }
    memcpy(g_pattern + PATTERN_PERIOD, g_pattern, MAX_CHUNK);
}

static const unsigned char *expected_at(const struct conn *c, uint64_t offset)
{
    return g_pattern + (c->base + offset) % PATTERN_PERIOD;
}

static void resolve(void)
{
    struct addrinfo hints = {0}, *result = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(g_host, g_port, &hints, &result);
    if (rc != 0 || result == NULL) {
        fail("cannot resolve %s:%s: %s", g_host, g_port, gai_strerror(rc));
    }
    memcpy(&g_addr, result->ai_addr, result->ai_addrlen);
    g_addrlen = result->ai_addrlen;
    freeaddrinfo(result);
}

/* Blocking connect (bounded by SO_SNDTIMEO): the echo modes open at most a few dozen connections. */
static int connect_one(int index)
{
    int fd = socket(g_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail("connection %d: socket: %s", index, strerror(errno));
    }
    struct timeval timeout = {CONNECT_TIMEOUT_SECONDS, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (connect(fd, (struct sockaddr *)&g_addr, g_addrlen) != 0) {
        fail("connection %d: connect to %s:%s: %s", index, g_host, g_port, strerror(errno));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        fail("fcntl O_NONBLOCK: %s", strerror(errno));
    }
}

static void watch(int epfd, struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        fail("connection %d: epoll_ctl: %s", c->index, strerror(errno));
    }
}

static void raise_fd_limit(int needed)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        fail("getrlimit: %s", strerror(errno));
    }
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < (rlim_t)needed) {
        fail("need %d file descriptors but the hard limit is %llu (raise it with ulimit -Hn)", needed,
             (unsigned long long)limit.rlim_max);
    }
}

/* ---- echo modes ---------------------------------------------------------------------------------- */

static void flush(struct worker *w, struct conn *c)
{
    while (c->sent < c->target) {
        uint64_t left = c->target - c->sent;
        size_t n = left < MAX_CHUNK ? (size_t)left : MAX_CHUNK;
        ssize_t r = send(c->fd, expected_at(c, c->sent), n, MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }
            fail("connection %d: send at stream offset %" PRIu64 ": %s", c->index, c->sent, strerror(errno));
        }
        c->sent += (uint64_t)r;
    }
    if (w->draining && !c->write_shut) {
        /* Everything issued is sent: the half-close tells the echo handler to flush and close. */
        if (shutdown(c->fd, SHUT_WR) != 0) {
            fail("connection %d: shutdown: %s", c->index, strerror(errno));
        }
        c->write_shut = 1;
    }
}

static void issue(struct conn *c, uint64_t now)
{
    uint64_t completed = c->received / g_size;
    uint64_t issued = c->target / g_size;
    while (issued < completed + (uint64_t)g_depth) {
        c->stamps[issued % (uint64_t)g_depth] = now;
        c->target += g_size;
        issued++;
    }
}

static void report_mismatch(const struct conn *c, const unsigned char *got, size_t length, size_t at)
{
    uint64_t offset = c->received + at;
    char expected_hex[16 * 3 + 1] = {0}, got_hex[16 * 3 + 1] = {0};
    size_t from = at >= 8 ? at - 8 : 0;
    for (size_t i = from, k = 0; i < length && k < 16; i++, k++) {
        snprintf(expected_hex + k * 3, 4, "%02x ", *expected_at(c, c->received + i));
        snprintf(got_hex + k * 3, 4, "%02x ", got[i]);
    }
    fail("connection %d: byte mismatch at stream offset %" PRIu64 " (in a read of %zu bytes at offset %" PRIu64
         "): expected 0x%02x, got 0x%02x\n  expected from offset %" PRIu64 ": %s\n  got      from offset %" PRIu64 ": %s",
         c->index, offset, length, c->received, *expected_at(c, offset), got[at], c->received + from, expected_hex,
         c->received + from, got_hex);
}

static void verify(const struct conn *c, const unsigned char *data, size_t length)
{
    size_t done = 0;
    while (done < length) {
        size_t n = length - done < MAX_CHUNK ? length - done : MAX_CHUNK;
        const unsigned char *expected = expected_at(c, c->received + done);
        if (memcmp(expected, data + done, n) != 0) {
            size_t i = 0;
            while (expected[i] == data[done + i]) {
                i++;
            }
            report_mismatch(c, data, length, done + i);
        }
        done += n;
    }
}

static void record(struct worker *w, uint64_t latency_ns)
{
    uint64_t us = latency_ns / 1000u;
    w->histogram[us < HISTOGRAM_BUCKETS ? us : HISTOGRAM_BUCKETS - 1]++;
}

static void finish(struct conn *c, int *remaining)
{
    close(c->fd);
    c->done = 1;
    (*remaining)--;
}

static void on_readable(struct worker *w, struct conn *c, int *remaining)
{
    for (;;) {
        ssize_t r = recv(c->fd, w->buffer, READ_BUFFER, 0);
        if (r > 0) {
            uint64_t n = (uint64_t)r;
            if (c->received + n > c->sent) {
                fail("connection %d: %" PRIu64 " bytes echoed but only %" PRIu64 " sent", c->index, c->received + n,
                     c->sent);
            }
            verify(c, w->buffer, (size_t)n);
            uint64_t now = now_ns();
            uint64_t before = c->received / g_size;
            c->received += n;
            uint64_t after = c->received / g_size;
            if (now < g_end_ns) {
                w->bytes += n;
                w->messages += after - before;
                for (uint64_t k = before; k < after; k++) {
                    record(w, now - c->stamps[k % (uint64_t)g_depth]);
                }
                if (!w->draining) {
                    issue(c, now);
                }
            }
            flush(w, c);
            continue;
        }
        if (r == 0) {
            if (!c->write_shut || c->received != c->sent) {
                fail("connection %d: early EOF from the server after %" PRIu64 " of %" PRIu64 " sent bytes echoed",
                     c->index, c->received, c->sent);
            }
            finish(c, remaining);
            return;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        }
        fail("connection %d: recv after %" PRIu64 " of %" PRIu64 " sent bytes echoed: %s", c->index, c->received,
             c->sent, strerror(errno));
    }
}

static void begin_drain(struct worker *w)
{
    w->draining = 1;
    for (int i = 0; i < w->count; i++) {
        if (!w->conns[i].done) {
            flush(w, &w->conns[i]);
        }
    }
}

/* One epoll_wait of a worker and its events: the read first (it may finish the connection), then
   the write. Shared by the echo modes and pipeline mode. */
static void dispatch_events(struct worker *w, int timeout_ms, int *remaining,
                            void (*readable)(struct worker *, struct conn *, int *),
                            void (*writable)(struct worker *, struct conn *))
{
    struct epoll_event events[256];
    int n = epoll_wait(w->epfd, events, 256, timeout_ms);
    if (n < 0) {
        if (errno == EINTR) {
            return;
        }
        fail("epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n; i++) {
        struct conn *c = events[i].data.ptr;
        if (c->done) {
            continue;
        }
        if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            readable(w, c, remaining);
        }
        if (!c->done && (events[i].events & EPOLLOUT)) {
            writable(w, c);
        }
    }
}

static void *run_echo(void *arg)
{
    struct worker *w = arg;
    int remaining = w->count;
    for (int i = 0; i < w->count; i++) {
        issue(&w->conns[i], g_start_ns);
        flush(w, &w->conns[i]);
    }
    uint64_t drain_deadline = g_end_ns + (uint64_t)DRAIN_SECONDS * 1000000000u;
    for (;;) {
        uint64_t now = now_ns();
        if (!w->draining && now >= g_end_ns) {
            begin_drain(w);
        }
        if (remaining == 0) {
            return NULL;
        }
        if (w->draining && now >= drain_deadline) {
            for (int i = 0; i < w->count; i++) {
                struct conn *c = &w->conns[i];
                if (!c->done) {
                    fail("connection %d: no complete echo %d s after the run: %" PRIu64 " of %" PRIu64
                         " sent bytes echoed (%" PRIu64 " issued)",
                         c->index, DRAIN_SECONDS, c->received, c->sent, c->target);
                }
            }
        }
        uint64_t until = w->draining ? drain_deadline : g_end_ns;
        int timeout = until > now ? (int)((until - now) / 1000000u) + 1 : 0;
        dispatch_events(w, timeout < 100 ? timeout : 100, &remaining, on_readable, flush);
    }
}

static uint64_t percentile_us(const uint64_t *histogram, uint64_t total, double fraction)
{
    if (total == 0) {
        return 0;
    }
    uint64_t rank = (uint64_t)((double)total * fraction);
    if (rank >= total) {
        rank = total - 1;
    }
    uint64_t seen = 0;
    for (uint32_t us = 0; us < HISTOGRAM_BUCKETS; us++) {
        seen += histogram[us];
        if (seen > rank) {
            return us;
        }
    }
    return HISTOGRAM_BUCKETS - 1;
}

static void *run_pipeline(void *arg);

/* The echo modes and pipeline mode: `g_threads` workers, each with its own epoll and connections. */
static int run_echo_mode(void)
{
    struct worker *workers = calloc((size_t)g_threads, sizeof *workers);
    if (workers == NULL) {
        fail("out of memory");
    }
    for (int t = 0; t < g_threads; t++) {
        struct worker *w = &workers[t];
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->buffer = malloc(READ_BUFFER);
        w->histogram = calloc(HISTOGRAM_BUCKETS, sizeof *w->histogram);
        w->conns = calloc((size_t)g_connections, sizeof *w->conns);
        if (w->epfd < 0 || w->buffer == NULL || w->histogram == NULL || w->conns == NULL) {
            fail("worker setup: %s", strerror(errno));
        }
    }
    for (int i = 0; i < g_connections; i++) {
        struct worker *w = &workers[i % g_threads];
        struct conn *c = &w->conns[w->count++];
        c->index = i;
        c->fd = connect_one(i);
        set_nonblocking(c->fd);
        /* Spread the connections over the pattern so a cross-connection mix-up shows too. */
        c->base = ((uint64_t)i * 2654435761u) % PATTERN_PERIOD;
        c->stamps = calloc((size_t)g_depth, sizeof *c->stamps);
        c->response = g_mode == MODE_PIPELINE ? malloc(PIPELINE_BUFFER) : NULL;
        if (c->stamps == NULL || (g_mode == MODE_PIPELINE && c->response == NULL)) {
            fail("out of memory");
        }
        watch(w->epfd, c, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    }
    g_start_ns = now_ns();
    g_end_ns = g_start_ns + (uint64_t)(g_seconds * 1e9);
    for (int t = 0; t < g_threads; t++) {
        if (pthread_create(&workers[t].thread, NULL, g_mode == MODE_PIPELINE ? run_pipeline : run_echo, &workers[t]) != 0) {
            fail("pthread_create failed");
        }
    }
    uint64_t messages = 0, bytes = 0;
    uint64_t *histogram = workers[0].histogram;
    for (int t = 0; t < g_threads; t++) {
        pthread_join(workers[t].thread, NULL);
        messages += workers[t].messages;
        bytes += workers[t].bytes;
        if (t > 0) {
            for (uint32_t us = 0; us < HISTOGRAM_BUCKETS; us++) {
                histogram[us] += workers[t].histogram[us];
            }
        }
    }
    double seconds = (double)(g_end_ns - g_start_ns) / 1e9;
    printf("mode=%s connections=%d threads=%d size=%zu depth=%d seconds=%.3f messages=%" PRIu64 " bytes=%" PRIu64
           " msgs_per_sec=%.1f mib_per_sec=%.2f p50_us=%" PRIu64 " p99_us=%" PRIu64 " errors=0\n",
           g_mode_name, g_connections, g_threads, g_size, g_depth, seconds, messages, bytes, (double)messages / seconds,
           (double)bytes / seconds / (1024.0 * 1024.0), percentile_us(histogram, messages, 0.50),
           percentile_us(histogram, messages, 0.99));
    return 0;
}

/* ---- pipeline mode ------------------------------------------------------------------------------- */

static char *g_request_batch;
static size_t g_request_batch_length;

/* Writes the rest of the connection's current batch; `sent` counts the batch's bytes written. */
static void pipeline_send(struct worker *w, struct conn *c)
{
    (void)w;
    while (c->sent < g_request_batch_length) {
        ssize_t r = send(c->fd, g_request_batch + c->sent, g_request_batch_length - c->sent, MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }
            fail("connection %d: send a batch: %s", c->index, strerror(errno));
        }
        c->sent += (uint64_t)r;
    }
}

/* `target` is the number of responses still due for the batch in flight; stamps[0] its write time. */
static void pipeline_issue(struct worker *w, struct conn *c, uint64_t now)
{
    c->stamps[0] = now;
    c->target = (uint64_t)g_depth;
    c->sent = 0;
    pipeline_send(w, c);
}

/* Length of the complete 200 response at `start`, or 0 when more bytes are needed (pipeline and upload modes). */
static size_t http_response_length(const struct conn *c, const char *start, size_t available)
{
    const char *end = memmem(start, available, "\r\n\r\n", 4);
    if (end == NULL) {
        if (available >= PIPELINE_BUFFER / 2) {
            fail("connection %d: no end of headers in %zu bytes", c->index, available);
        }
        return 0;
    }
    if (available < 12 || memcmp(start, "HTTP/1.1 200", 12) != 0) {
        fail("connection %d: expected HTTP/1.1 200, got: %.*s", c->index, (int)(end - start), start);
    }
    size_t header_length = (size_t)(end - start) + 4;
    long content_length = -1;
    for (const char *line = start; line < end;) {
        const char *line_end = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
        if ((size_t)(line_end - line) > 15 && strncasecmp(line, "Content-Length:", 15) == 0) {
            content_length = strtol(line + 15, NULL, 10);
        }
        line = line_end + 2;
    }
    if (content_length < 0) {
        fail("connection %d: response without Content-Length", c->index);
    }
    size_t length = header_length + (size_t)content_length;
    return available >= length ? length : 0;
}

static void pipeline_on_readable(struct worker *w, struct conn *c, int *remaining)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->response + c->response_len, PIPELINE_BUFFER - c->response_len, 0);
        if (r > 0) {
            c->response_len += (size_t)r;
            uint64_t now = now_ns();
            size_t at = 0;
            for (size_t length; (length = http_response_length(c, c->response + at, c->response_len - at)) > 0;) {
                if (c->target == 0) {
                    fail("connection %d: a response nobody asked for", c->index);
                }
                at += length;
                c->target--;
                if (now < g_end_ns) {
                    w->messages++;
                    w->bytes += length;
                    record(w, now - c->stamps[0]);
                }
            }
            memmove(c->response, c->response + at, c->response_len - at);
            c->response_len -= at;
            if (c->target == 0) {
                if (w->draining || now >= g_end_ns) {
                    finish(c, remaining);
                    return;
                }
                pipeline_issue(w, c, now);
            }
            continue;
        }
        if (r == 0) {
            fail("connection %d: server closed with %" PRIu64 " responses of a batch outstanding", c->index, c->target);
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        }
        fail("connection %d: recv: %s", c->index, strerror(errno));
    }
}

static void *run_pipeline(void *arg)
{
    struct worker *w = arg;
    int remaining = w->count;
    for (int i = 0; i < w->count; i++) {
        pipeline_issue(w, &w->conns[i], g_start_ns);
    }
    uint64_t drain_deadline = g_end_ns + (uint64_t)DRAIN_SECONDS * 1000000000u;
    while (remaining > 0) {
        uint64_t now = now_ns();
        /* After the window no batch is started; each connection finishes the one it has in flight. */
        w->draining = now >= g_end_ns;
        if (w->draining && now >= drain_deadline) {
            for (int i = 0; i < w->count; i++) {
                if (!w->conns[i].done) {
                    fail("connection %d: %" PRIu64 " responses still due %d s after the run", w->conns[i].index,
                         w->conns[i].target, DRAIN_SECONDS);
                }
            }
        }
        dispatch_events(w, 100, &remaining, pipeline_on_readable, pipeline_send);
    }
    return NULL;
}

static void build_request_batch(void)
{
    char one[256];
    int length = snprintf(one, sizeof one, "GET /plaintext HTTP/1.1\r\nHost: %s:%s\r\n\r\n", g_host, g_port);
    if (length <= 0 || (size_t)length >= sizeof one) {
        fail("host name too long for a request: %s", g_host);
    }
    g_request_batch_length = (size_t)length * (size_t)g_depth;
    g_request_batch = malloc(g_request_batch_length);
    if (g_request_batch == NULL) {
        fail("out of memory");
    }
    for (int i = 0; i < g_depth; i++) {
        memcpy(g_request_batch + (size_t)i * (size_t)length, one, (size_t)length);
    }
}

/* ---- upload mode --------------------------------------------------------------------------------- */

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank over the sorted durations, in microseconds. */
static uint64_t sorted_percentile_us(const uint64_t *sorted_ns, uint64_t count, double fraction)
{
    uint64_t rank = (uint64_t)((double)count * fraction);
    return sorted_ns[rank >= count ? count - 1 : rank] / 1000u;
}

static void upload_send(int fd, const unsigned char *data, size_t length, uint64_t upload)
{
    while (length > 0) {
        ssize_t n = send(fd, data, length, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            fail("upload %" PRIu64 ": the server took nothing for %d s", upload, UPLOAD_STALL_SECONDS);
        }
        if (n < 0) {
            fail("upload %" PRIu64 ": send: %s", upload, strerror(errno));
        }
        data += n;
        length -= (size_t)n;
    }
}

/* Reads one whole response and checks that it is a 200 whose body is the number of bytes uploaded. */
static void upload_receive(struct conn *c, uint64_t upload)
{
    size_t length = 0;
    while ((length = c->response_len > 0 ? http_response_length(c, c->response, c->response_len) : 0) == 0) {
        ssize_t r = recv(c->fd, c->response + c->response_len, PIPELINE_BUFFER - c->response_len, 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            fail("upload %" PRIu64 ": no response within %d s of the last byte", upload, UPLOAD_STALL_SECONDS);
        }
        if (r <= 0) {
            fail("upload %" PRIu64 ": %s before the whole response", upload, r == 0 ? "EOF" : strerror(errno));
        }
        c->response_len += (size_t)r;
    }
    const char *body = memmem(c->response, length, "\r\n\r\n", 4) + 4;
    char expected[32];
    int digits = snprintf(expected, sizeof expected, "%zu", g_size);
    size_t body_length = length - (size_t)(body - c->response);
    if (body_length != (size_t)digits || memcmp(body, expected, (size_t)digits) != 0) {
        fail("upload %" PRIu64 ": the server counted %.*s bytes, not %s", upload, (int)body_length, body, expected);
    }
    /* Nothing may follow: the server answers one request at a time on this connection. */
    if (c->response_len != length) {
        fail("upload %" PRIu64 ": %zu unexpected bytes after the response", upload, c->response_len - length);
    }
    c->response_len = 0;
}

static int run_upload_mode(void)
{
    if (g_connections != 1) {
        fail("upload mode uploads on one connection; connections was %d", g_connections);
    }
    struct conn c = {.index = 0};
    c.fd = connect_one(0);
    struct timeval stall = {UPLOAD_STALL_SECONDS, 0};
    setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &stall, sizeof stall);
    setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &stall, sizeof stall);
    c.response = malloc(PIPELINE_BUFFER);
    char head[512];
    int head_length = snprintf(head, sizeof head,
                               "POST /upload HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/octet-stream\r\nContent-Length: %zu\r\n\r\n",
                               g_host, g_port, g_size);
    size_t capacity = 64;
    uint64_t *durations = malloc(capacity * sizeof *durations);
    if (c.response == NULL || durations == NULL || head_length <= 0 || (size_t)head_length >= sizeof head) {
        fail("upload setup: out of memory or host name too long");
    }
    uint64_t uploads = 0, busy_ns = 0;
    uint64_t end = now_ns() + (uint64_t)(g_seconds * 1e9);
    do {
        uint64_t started = now_ns();
        upload_send(c.fd, (const unsigned char *)head, (size_t)head_length, uploads);
        for (size_t sent = 0; sent < g_size;) {
            /* The body is the pattern, entered where the last chunk left off, as the echo modes send it. */
            size_t chunk = g_size - sent < MAX_CHUNK ? g_size - sent : MAX_CHUNK;
            upload_send(c.fd, g_pattern + sent % PATTERN_PERIOD, chunk, uploads);
            sent += chunk;
        }
        upload_receive(&c, uploads);
        uint64_t took = now_ns() - started;
        if (uploads == capacity) {
            capacity *= 2;
            durations = realloc(durations, capacity * sizeof *durations);
            if (durations == NULL) {
                fail("out of memory");
            }
        }
        durations[uploads++] = took;
        busy_ns += took;
    } while (now_ns() < end);
    close(c.fd);
    qsort(durations, uploads, sizeof *durations, compare_u64);
    double seconds = (double)busy_ns / 1e9;
    uint64_t bytes = uploads * (uint64_t)g_size;
    printf("mode=upload connections=1 threads=1 size=%zu depth=1 seconds=%.3f messages=%" PRIu64 " bytes=%" PRIu64
           " msgs_per_sec=%.3f mib_per_sec=%.2f p50_us=%" PRIu64 " p99_us=%" PRIu64 " errors=0\n",
           g_size, seconds, uploads, bytes, (double)uploads / seconds, (double)bytes / seconds / (1024.0 * 1024.0),
           sorted_percentile_us(durations, uploads, 0.50), sorted_percentile_us(durations, uploads, 0.99));
    return 0;
}

/* ---- idle mode ----------------------------------------------------------------------------------- */

/* Returns 1 when the response is complete (a 200 with its whole Content-Length body), 0 if not yet. */
static int idle_response_complete(const struct conn *c)
{
    const char *end = memmem(c->response, c->response_len, "\r\n\r\n", 4);
    if (end == NULL) {
        return 0;
    }
    if (c->response_len < 12 || memcmp(c->response, "HTTP/1.1 200", 12) != 0) {
        fail("connection %d: expected HTTP/1.1 200, got: %.*s", c->index, (int)(end - c->response), c->response);
    }
    size_t header_length = (size_t)(end - c->response) + 4;
    long content_length = -1;
    for (const char *line = c->response; line < end; line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            content_length = strtol(line + 15, NULL, 10);
        }
    }
    if (content_length < 0) {
        fail("connection %d: response without Content-Length", c->index);
    }
    if (c->response_len > header_length + (size_t)content_length) {
        fail("connection %d: %zu bytes after the response", c->index, c->response_len - header_length - (size_t)content_length);
    }
    return c->response_len == header_length + (size_t)content_length;
}

static int run_idle_mode(void)
{
    raise_fd_limit(g_connections + 64);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct conn *conns = calloc((size_t)g_connections, sizeof *conns);
    if (epfd < 0 || conns == NULL) {
        fail("setup: %s", strerror(errno));
    }
    char request[256];
    int request_length = snprintf(request, sizeof request, "GET /plaintext HTTP/1.1\r\nHost: %s:%s\r\n\r\n", g_host, g_port);
    uint64_t started = now_ns();
    /* Non-blocking connects, at most IDLE_OPENING at a time (connecting or awaiting the response):
       well under the server's accept backlog, so no SYN is dropped and retried a second later. */
    int opened = 0, opening = 0, ready = 0;
    uint64_t deadline = started + (uint64_t)IDLE_OPEN_SECONDS * 1000000000u;
    struct epoll_event events[256];
    while (ready < g_connections) {
        while (opened < g_connections && opening < IDLE_OPENING) {
            struct conn *c = &conns[opened];
            c->index = opened++;
            c->fd = socket(g_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (c->fd < 0) {
                fail("connection %d: socket: %s", c->index, strerror(errno));
            }
            if (connect(c->fd, (struct sockaddr *)&g_addr, g_addrlen) != 0 && errno != EINPROGRESS) {
                fail("connection %d: connect to %s:%s: %s", c->index, g_host, g_port, strerror(errno));
            }
            c->response = malloc(IDLE_RESPONSE_MAX);
            if (c->response == NULL) {
                fail("out of memory");
            }
            watch(epfd, c, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
            opening++;
        }
        if (now_ns() >= deadline) {
            for (int i = 0; i < opened; i++) {
                if (!conns[i].done) {
                    fail("connection %d: not connected and answered within %d s (%d of %d ready)", i,
                         IDLE_OPEN_SECONDS, ready, g_connections);
                }
            }
        }
        int n = epoll_wait(epfd, events, 256, 100);
        for (int e = 0; e < n; e++) {
            struct conn *c = events[e].data.ptr;
            if (c->done) {
                continue;
            }
            if (!c->write_shut && (events[e].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                /* The connect finished (write_shut marks the request as sent in this mode). */
                int error = 0;
                socklen_t length = sizeof error;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &length);
                if (error != 0) {
                    fail("connection %d: connect to %s:%s: %s", c->index, g_host, g_port, strerror(error));
                }
                if (send(c->fd, request, (size_t)request_length, MSG_NOSIGNAL) != request_length) {
                    fail("connection %d: send request: %s", c->index, strerror(errno));
                }
                c->write_shut = 1;
            }
            while (c->write_shut && !c->done) {
                ssize_t r = recv(c->fd, c->response + c->response_len, IDLE_RESPONSE_MAX - 1 - c->response_len, 0);
                if (r > 0) {
                    c->response_len += (size_t)r;
                    c->response[c->response_len] = '\0';
                    if (idle_response_complete(c)) {
                        c->done = 1;
                        ready++;
                        opening--;
                        free(c->response);
                        c->response = NULL;
                    } else if (c->response_len >= IDLE_RESPONSE_MAX - 1) {
                        fail("connection %d: response longer than %d bytes", c->index, IDLE_RESPONSE_MAX);
                    }
                    continue;
                }
                if (r == 0) {
                    fail("connection %d: server closed before its response was complete", c->index);
                }
                if (errno == EINTR) {
                    continue;
                }
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    break;
                }
                fail("connection %d: recv: %s", c->index, strerror(errno));
            }
        }
    }
    printf("ready connections=%d open_seconds=%.3f\n", g_connections, (double)(now_ns() - started) / 1e9);
    fflush(stdout);

    /* Hold until the caller closes stdin (or writes a line), bounded by `seconds`. A connection that
       becomes readable now was closed or reset by the server: keep-alive must hold it. */
    struct conn stdin_marker = {.fd = STDIN_FILENO, .index = -1};
    struct epoll_event ev = {.events = EPOLLIN | EPOLLHUP, .data.ptr = &stdin_marker};
    /* Not every stdin can be watched (/dev/null cannot); then only `seconds` ends the hold. */
    (void)epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &ev);
    int closed_by_server = 0;
    int first_closed = -1;
    uint64_t hold_until = now_ns() + (uint64_t)(g_seconds * 1e9);
    for (int released = 0; !released;) {
        uint64_t now = now_ns();
        if (now >= hold_until) {
            break;
        }
        uint64_t left_ms = (hold_until - now) / 1000000u + 1;
        int n = epoll_wait(epfd, events, 256, left_ms < 100 ? (int)left_ms : 100);
        for (int e = 0; e < n; e++) {
            struct conn *c = events[e].data.ptr;
            if (c == &stdin_marker) {
                released = 1;
                continue;
            }
            char byte;
            ssize_t r = recv(c->fd, &byte, 1, MSG_PEEK);
            if (r > 0) {
                fail("connection %d: unexpected bytes from the server while idle", c->index);
            }
            if ((r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) && !c->server_closed) {
                c->server_closed = 1;
                closed_by_server++;
                first_closed = first_closed < 0 ? c->index : first_closed;
                epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
            }
        }
    }
    for (int i = 0; i < g_connections; i++) {
        close(conns[i].fd);
    }
    printf("idle connections=%d closed_by_server=%d errors=%d\n", g_connections, closed_by_server, closed_by_server > 0);
    if (closed_by_server > 0) {
        fail("the server closed %d of %d idle connections (first: connection %d)", closed_by_server, g_connections,
             first_closed);
    }
    return 0;
}

/* ---- arguments ------------------------------------------------------------------------------------ */

static long parse_number(const char *text, const char *name, long min, long max)
{
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
        fail("%s must be an integer between %ld and %ld; it was '%s'", name, min, max, text);
    }
    return value;
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc > 9) {
        fprintf(stderr, "usage: %s host port pingpong|inflight|stream|pipeline|upload|idle connections seconds [threads=1] [size] [depth]\n",
                argv[0]);
        return 2;
    }
    g_host = argv[1];
    g_port = argv[2];
    g_mode_name = argv[3];
    if (strcmp(g_mode_name, "pingpong") == 0) {
        g_mode = MODE_PINGPONG;
        g_size = 64;
        g_depth = 1;
    } else if (strcmp(g_mode_name, "inflight") == 0) {
        g_mode = MODE_INFLIGHT;
        g_size = 4096;
        g_depth = 4;
    } else if (strcmp(g_mode_name, "stream") == 0) {
        g_mode = MODE_STREAM;
        g_size = 65536;
        g_depth = 16;
    } else if (strcmp(g_mode_name, "pipeline") == 0) {
        g_mode = MODE_PIPELINE;
        g_size = 0; /* not used: a message is one HTTP response */
        g_depth = 16;
    } else if (strcmp(g_mode_name, "upload") == 0) {
        g_mode = MODE_UPLOAD;
        g_size = UPLOAD_DEFAULT_SIZE;
        g_depth = 1;
    } else if (strcmp(g_mode_name, "idle") == 0) {
        g_mode = MODE_IDLE;
    } else {
        fail("unknown mode '%s' (pingpong, inflight, stream, pipeline, upload, idle)", g_mode_name);
    }
    g_connections = (int)parse_number(argv[4], "connections", 1, 1000000);
    char *end = NULL;
    g_seconds = strtod(argv[5], &end);
    if (end == argv[5] || *end != '\0' || g_seconds < 0 || g_seconds > 86400) {
        fail("seconds must be a number between 0 and 86400; it was '%s'", argv[5]);
    }
    if (argc > 6) {
        g_threads = (int)parse_number(argv[6], "threads", 1, 64);
    }
    if (argc > 7 && g_mode != MODE_PIPELINE) {
        /* An upload is one message of `size` bytes, sent from the pattern in chunks, so it may be large. */
        g_size = (size_t)parse_number(argv[7], "size", 1, g_mode == MODE_UPLOAD ? 64L * 1024 * 1024 * 1024 : 16 * 1024 * 1024);
    }
    if (argc > 8) {
        g_depth = (int)parse_number(argv[8], "depth", 1, 1024);
    }
    if (g_threads > g_connections) {
        g_threads = g_connections;
    }
    resolve();
    if (g_mode == MODE_IDLE) {
        return run_idle_mode();
    }
    raise_fd_limit(g_connections + 64);
    if (g_mode == MODE_PIPELINE) {
        build_request_batch();
    } else {
        build_pattern();
    }
    return g_mode == MODE_UPLOAD ? run_upload_mode() : run_echo_mode();
}
