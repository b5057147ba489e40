// The least a server can do for DemoWeb's GET /plaintext: one thread, one epoll, edge-triggered
// non-blocking sockets, TCP_NODELAY, and the response Kestrel sends (same headers, same length). The
// benchmark harness runs it beside DemoWeb (configurations "C epoll server" and "C epoll server,
// sleeping") so that a transport's ratio to Sockets can be read against what this host allows at all:
// on a shared VM, how fast one connection goes depends mostly on how a sleeping thread is woken, and
// this program shows that cost with no .NET, no Kestrel and no transport in the way.
//
// Usage: c_reference_server PORT POLL_MICROSECONDS
//   PORT 0 takes any free port; the program prints "DemoWeb http: http://127.0.0.1:PORT" like DemoWeb,
//   so the harness finds it the same way.
//   POLL_MICROSECONDS > 0: after a sleep in epoll_wait that lasted under 200 us, the next wait first polls
//   (epoll_wait with a zero timeout) for that long, as EpollTransport's loop does
//   (EpollLoop.PollBriefly); 0 sleeps in epoll_wait at once.
//
// Requests are counted by their blank line ("\r\n\r\n", also across reads); bodies are not expected.
// Pipelined requests are answered in one send per read. Output the socket cannot take waits for EPOLLOUT.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BODY "Hello, World!"
#define MAX_EVENTS 256
#define SHORT_SLEEP_NS 200000L

struct connection {
    int matched;       // bytes of "\r\n\r\n" matched at the end of the last read
    char *pending;     // output the socket did not take yet
    size_t pending_len;
    size_t pending_cap;
};

static struct connection *connections;
static int connections_len;
static char date_line[64];
static char response[256];
static size_t response_len;
static time_t response_second;

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

// Kestrel sends a Date header refreshed once a second; so does this.
static void refresh_response(void) {
    time_t now = time(NULL);
    if (now == response_second) {
        return;
    }
    response_second = now;
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date_line, sizeof date_line, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    response_len = (size_t)snprintf(response, sizeof response,
        "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nContent-Type: text/plain\r\nDate: %s\r\nServer: Kestrel\r\n\r\n%s",
        strlen(BODY), date_line, BODY);
}

static struct connection *connection_of(int fd) {
    if (fd >= connections_len) {
        int len = connections_len == 0 ? 1024 : connections_len;
        while (len <= fd) {
            len *= 2;
        }
        connections = realloc(connections, (size_t)len * sizeof *connections);
        if (connections == NULL) {
            perror("realloc");
            exit(1);
        }
        memset(connections + connections_len, 0, (size_t)(len - connections_len) * sizeof *connections);
        connections_len = len;
    }
    return &connections[fd];
}

static void close_connection(int fd) {
    struct connection *c = connection_of(fd);
    free(c->pending);
    memset(c, 0, sizeof *c);
    close(fd);
}

// Sends what is pending; 0 when all of it left or the socket is full (EPOLLOUT resumes), -1 on error.
static int flush_pending(int fd, struct connection *c) {
    size_t sent = 0;
    while (sent < c->pending_len) {
        ssize_t n = send(fd, c->pending + sent, c->pending_len - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) {
                break;
            }
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        sent += (size_t)n;
    }
    memmove(c->pending, c->pending + sent, c->pending_len - sent);
    c->pending_len -= sent;
    return 0;
}

static void queue_responses(struct connection *c, int count) {
    size_t need = c->pending_len + (size_t)count * response_len;
    if (need > c->pending_cap) {
        size_t cap = c->pending_cap == 0 ? 4096 : c->pending_cap;
        while (cap < need) {
            cap *= 2;
        }
        c->pending = realloc(c->pending, cap);
        if (c->pending == NULL) {
            perror("realloc");
            exit(1);
        }
        c->pending_cap = cap;
    }
    for (int i = 0; i < count; i++) {
        memcpy(c->pending + c->pending_len, response, response_len);
        c->pending_len += response_len;
    }
}

// Reads until the socket is drained (edge-triggered), answering every complete request.
static void on_readable(int fd) {
    static char buffer[65536];
    static const char terminator[] = "\r\n\r\n";
    struct connection *c = connection_of(fd);
    for (;;) {
        ssize_t n = read(fd, buffer, sizeof buffer);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            close_connection(fd);
            return;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        int requests = 0;
        for (ssize_t i = 0; i < n; i++) {
            if (buffer[i] == terminator[c->matched]) {
                if (++c->matched == 4) {
                    requests++;
                    c->matched = 0;
                }
            } else {
                c->matched = buffer[i] == '\r' ? 1 : 0;
            }
        }
        if (requests > 0) {
            queue_responses(c, requests);
            if (flush_pending(fd, c) < 0) {
                close_connection(fd);
                return;
            }
        }
        if (n < (ssize_t)sizeof buffer) {
            return;
        }
    }
}

static void accept_all(int listener, int epoll) {
    int one = 1;
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        connection_of(fd);
        struct epoll_event event = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = fd };
        if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) < 0) {
            close_connection(fd);
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT POLL_MICROSECONDS\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    long poll_ns = atol(argv[2]) * 1000L;

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t length = sizeof address;
    if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0 || listen(listener, 1024) < 0
        || getsockname(listener, (struct sockaddr *)&address, &length) < 0) {
        perror("listen");
        return 1;
    }
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event listen_event = { .events = EPOLLIN, .data.fd = listener };
    epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &listen_event);
    printf("DemoWeb http: http://127.0.0.1:%d\n", ntohs(address.sin_port));
    fflush(stdout);

    struct epoll_event events[MAX_EVENTS];
    int last_sleep_was_short = 0;
    for (;;) {
        int count = 0;
        if (poll_ns > 0 && last_sleep_was_short) {
            long deadline = now_ns() + poll_ns;
            do {
                count = epoll_wait(epoll, events, MAX_EVENTS, 0);
            } while (count == 0 && now_ns() < deadline);
        }
        if (count == 0) {
            long slept_at = now_ns();
            count = epoll_wait(epoll, events, MAX_EVENTS, -1);
            last_sleep_was_short = now_ns() - slept_at < SHORT_SLEEP_NS;
        }
        refresh_response();
        for (int i = 0; i < count; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                accept_all(listener, epoll);
                continue;
            }
            struct connection *c = connection_of(fd);
            if ((events[i].events & EPOLLOUT) && c->pending_len > 0 && flush_pending(fd, c) < 0) {
                close_connection(fd);
                continue;
            }
            if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                on_readable(fd);
            }
        }
    }
}
