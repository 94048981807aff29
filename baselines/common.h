/* common.h: what the four one-way stream baselines share, and the buffers (buffer_at) and
 * pipe sizes (raise_pipe) the round-trip baselines (round_trip.h) use too.
 *
 * The protocol (the same as transport-bench's --pattern stream): the client (the parent)
 * sends COUNT messages of SIZE bytes one way, back to back. Each message starts with its
 * sequence number (8 bytes, little-endian, 1..COUNT); every byte after that is
 * payload_byte(offset). Then it sends one more message whose sequence number is UINT64_MAX
 * (END); the server (the forked child) echoes that one back, and the echo is the
 * acknowledgement that every message before it arrived whole and in order.
 *
 * Each program runs a warm-up stream of WARMUP messages (untimed), then the timed stream.
 * The timed region runs on the client, from just before the first send to the receipt of the
 * acknowledgement. CPU time: each process reads its own CLOCK_PROCESS_CPUTIME_ID, the client
 * just outside its timed region, the server just after it echoed the warm-up's END and just
 * after it echoed the timed stream's END; the server sends its figure to the client over a
 * pipe. (Not clock_getcpuclockid(server) from the client: a process's CPU clock read by
 * another process is only as fresh as the last scheduler tick or switch, 4 ms steps at
 * HZ=250, for a peer that is running, which a spinning server always is.)
 *
 * Everything here is static (the functions static inline, so that a program need not use
 * them all): each program is one translation unit that includes this file. */
#ifndef BASELINES_COMMON_H
#define BASELINES_COMMON_H

#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 1000u           /* messages in the untimed warm-up stream */
#define STREAM_END UINT64_MAX  /* the sequence number that asks for the acknowledgement */
#define SEQ_LEN 8u             /* bytes of the sequence number; the smallest message */
#define MAX_SIZE (64u << 20)   /* the largest SIZE any of the programs accepts */

/* What a spinning wait does between two looks at shared memory: `pause` (or the CPU's like). */
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

enum placement { UNPINNED, SAME, SPLIT };

struct opts {
    size_t size;          /* bytes per message, sequence number included */
    uint64_t count;       /* messages in the timed stream */
    enum placement place; /* -p same|split */
    int verify;           /* -v: the server checks every byte of every message */
};

static const char *g_prog = "stream";    /* program name, for messages */
static const char *g_role = "client";    /* "client" or "server", for messages */
static pid_t g_child = 0;                /* the server's pid, in the client, once forked */
static volatile sig_atomic_t g_child_died = 0;
static void (*g_sigchld_hook)(void) = 0; /* async-signal-safe extra work on SIGCHLD */

/* Prints "prog: role: message" (and strerror(errno) if with_errno) and exits 1. In the
 * client, it kills and reaps the server first. Named objects are unlinked as soon as they are
 * created, so no path out of a program leaves one behind. */
__attribute__((noreturn, format(printf, 2, 3)))
static inline void fail(int with_errno, const char *fmt, ...)
{
    int err = errno;
    va_list ap;
    fprintf(stderr, "%s: %s: ", g_prog, g_role);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (with_errno)
        fprintf(stderr, ": %s", strerror(err));
    fputc('\n', stderr);
    if (g_child > 0) {
        kill(g_child, SIGKILL);
        waitpid(g_child, NULL, 0);
    }
    exit(1);
}
#define die(...) fail(0, __VA_ARGS__)
#define die_errno(...) fail(1, __VA_ARGS__)

/* Where the framed baselines keep a payload, in bytes past a page boundary: as transport-bench's
 * byte streams do (PAYLOAD_PAGE_OFFSET, src/transport/blocks/framing/mod.rs). The kernel copies
 * a message to and from buffers that start a page (a pipe's fresh page, a socket buffer's head
 * and page fragments), so a payload behind its 4-byte header sits at 4 or 0 past a page; on AMD
 * Zen a copy whose destination is 1 to 15 bytes ahead of its source modulo a page runs several
 * times slower. 64 bytes past the header keeps every such copy clear of it; the malloc'd or
 * page-aligned buffers these programs used before did not (docs/own-cost.md). */
#define FRAMED_PAYLOAD_OFFSET 68

/* transport-bench's default buffer (DEFAULT_BUFFER_SIZE, src/values.rs), towards which its pipe
 * raises both of its pipes whatever the message size. */
#define TOOL_BUFFER_SIZE 2500000

/* Raises the pipe behind `fd` as transport-bench's pipe raises its two (src/transport/os/pipe.rs):
 * towards its buffer, TOOL_BUFFER_SIZE or a whole `message` if larger, capped by
 * /proc/sys/fs/pipe-max-size (which root could pass); never shrinks it. A refusal (EPERM: the
 * user's pipe pages) leaves the default, as in the tool. With the same room in the pipe, a
 * stream has as many messages in flight in both, and a large one crosses in as many wake-ups. */
static inline void raise_pipe(int fd, size_t message)
{
    size_t bytes = message > TOOL_BUFFER_SIZE ? message : TOOL_BUFFER_SIZE;
    FILE *f = fopen("/proc/sys/fs/pipe-max-size", "r");
    unsigned long limit;
    if (f && fscanf(f, "%lu", &limit) == 1 && limit < bytes)
        bytes = limit;
    if (f)
        fclose(f);
    int current = fcntl(fd, F_GETPIPE_SZ);
    if (current < 0)
        die_errno("F_GETPIPE_SZ");
    if (bytes > (size_t)current && bytes <= INT32_MAX && fcntl(fd, F_SETPIPE_SZ, (int)bytes) < 0 &&
        errno != EPERM)
        die_errno("F_SETPIPE_SZ");
}

/* A buffer of `size` bytes that starts `offset` bytes past a page boundary, never freed (the
 * process ends with the run). */
static inline uint8_t *buffer_at(size_t size, size_t offset)
{
    uint8_t *page = mmap(NULL, size + offset + 4096, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        die_errno("mmap");
    return page + offset;
}

__attribute__((noreturn)) static inline void usage(void)
{
    fprintf(stderr, "usage: %s SIZE COUNT [-p same|split] [-v]\n", g_prog);
    exit(2);
}

static inline uint64_t parse_number(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        die("%s must be a positive integer, not '%s'", what, s);
    return v;
}

/* prog SIZE COUNT [-p same|split] [-v], options anywhere; SIZE in [SEQ_LEN, max_size]. */
static inline void parse_args(int argc, char **argv, struct opts *o, size_t max_size)
{
    const char *pos[2];
    int npos = 0;
    g_prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v")) {
            o->verify = 1;
        } else if (!strcmp(argv[i], "-p")) {
            if (++i == argc)
                usage();
            if (!strcmp(argv[i], "same"))
                o->place = SAME;
            else if (!strcmp(argv[i], "split"))
                o->place = SPLIT;
            else
                die("-p takes 'same' or 'split', not '%s'", argv[i]);
        } else if (argv[i][0] == '-' || npos == 2) {
            usage();
        } else {
            pos[npos++] = argv[i];
        }
    }
    if (npos != 2)
        usage();
    uint64_t size = parse_number(pos[0], "SIZE");
    o->count = parse_number(pos[1], "COUNT");
    if (size < SEQ_LEN || size > max_size)
        die("SIZE must be between %u and %zu bytes, not %llu", SEQ_LEN, max_size,
            (unsigned long long)size);
    if (o->count < 1 || o->count >= STREAM_END)
        die("COUNT must be at least 1");
    o->size = size;
}

/* Pins the calling process to one CPU. */
static inline void pin_to(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        die_errno("cannot pin to CPU %d", cpu);
}

/* -p same: both on CPU 0; -p split: the client on CPU 0, the server on CPU 1. */
static inline void pin_role(const struct opts *o, int server)
{
    if (o->place != UNPINNED)
        pin_to(server && o->place == SPLIT ? 1 : 0);
}

static inline void on_sigchld(int sig)
{
    (void)sig;
    g_child_died = 1;
    if (g_sigchld_hook)
        g_sigchld_hook();
}

/* Two pipes beside the mechanism: g_report carries the server's CPU seconds over the timed
 * stream to the client; g_done only ends the server, which exits at EOF on it. */
static int g_report[2] = {-1, -1};
static int g_done[2] = {-1, -1};
static double g_server_cpu0;

static inline double clock_s(clockid_t clk)
{
    struct timespec ts;
    if (clock_gettime(clk, &ts) != 0)
        die_errno("clock_gettime");
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Forks the server. In the child: dies with the parent, pins, runs serve() (which calls
 * server_acked() after each END's echo), waits for the client's "done" (EOF on g_done), exits 0. In the parent: returns the child's pid, with a
 * SIGCHLD handler set that raises g_child_died (and runs g_sigchld_hook) should it die early.
 * SIGPIPE is ignored, so that a write to a dead server fails with EPIPE instead. */
static inline pid_t start_server(const struct opts *o, void (*serve)(const struct opts *))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    signal(SIGPIPE, SIG_IGN);
    if (pipe(g_report) != 0 || pipe(g_done) != 0)
        die_errno("pipe");
    if (sigaction(SIGCHLD, &sa, NULL) != 0)
        die_errno("sigaction");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die_errno("fork");
    if (pid == 0) {
        g_role = "server";
        signal(SIGCHLD, SIG_DFL);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
            die_errno("prctl(PR_SET_PDEATHSIG)");
        if (getppid() == 1)
            die("the client is gone");
        close(g_report[0]);
        close(g_done[1]);
        pin_role(o, 1);
        serve(o);
        char c;
        while (read(g_done[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(g_report[1]);
    close(g_done[0]);
    g_child = pid;
    pin_role(o, 0);
    return pid;
}

/* The server, just after it echoed an END: stream 0 (the warm-up) starts its CPU window,
 * stream 1 (the timed one) ends it and sends the figure to the client. */
static inline void server_acked(int stream)
{
    double now = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    if (stream == 0) {
        g_server_cpu0 = now;
        return;
    }
    double cpu = now - g_server_cpu0;
    if (write(g_report[1], &cpu, sizeof cpu) != (ssize_t)sizeof cpu)
        die_errno("cannot report the CPU time");
}

/* The client, after the timed stream: takes the server's CPU seconds, tells it to go, reaps
 * it, and fails unless it exited 0. */
static inline double finish_server(void)
{
    double cpu;
    ssize_t r;
    int status;
    while ((r = read(g_report[0], &cpu, sizeof cpu)) < 0 && errno == EINTR)
        ;
    if (r != (ssize_t)sizeof cpu)
        die("no CPU figure from the server (it exited?)");
    close(g_done[1]);
    while (waitpid(g_child, &status, 0) < 0)
        if (errno != EINTR)
            die_errno("waitpid");
    g_child = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("the server failed (%s %d)", WIFEXITED(status) ? "exit status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return cpu;
}

/* ---- messages ---------------------------------------------------------------------- */

static inline uint8_t payload_byte(size_t offset)
{
    return (uint8_t)((offset * 31 + 7) % 251);
}

/* Fills a message buffer with the payload pattern (the sequence number goes over bytes 0..8). */
static inline void fill_pattern(uint8_t *msg, size_t size)
{
    for (size_t i = 0; i < size; i++)
        msg[i] = payload_byte(i);
}

static inline void stamp_seq(uint8_t *msg, uint64_t seq)
{
    uint64_t le = htole64(seq);
    memcpy(msg, &le, SEQ_LEN);
}

static inline uint64_t seq_of(const uint8_t *msg)
{
    uint64_t le;
    memcpy(&le, msg, SEQ_LEN);
    return le64toh(le);
}

/* Fails unless every byte after the sequence number is the pattern. */
static inline void check_payload(const uint8_t *msg, size_t size, uint64_t seq)
{
    for (size_t i = SEQ_LEN; i < size; i++)
        if (msg[i] != payload_byte(i))
            die("message %llu differs at byte offset %zu: expected 0x%02x, got 0x%02x",
                (unsigned long long)seq, i, payload_byte(i), msg[i]);
}

/* The server's check of a stream: length, sequence numbers 1, 2, ... in order, exactly
 * `count` of them before the END, every byte with -v and always for the END. Returns 1 for
 * the END (to be echoed), 0 for any other message. Resets itself for the next stream. */
struct stream_check {
    uint64_t next;
};

static inline int check_message(struct stream_check *c, const uint8_t *msg, size_t len,
                         const struct opts *o, uint64_t count)
{
    if (c->next == 0)
        c->next = 1;
    if (len != o->size)
        die("message %llu has %zu bytes, expected %zu", (unsigned long long)c->next, len,
            o->size);
    uint64_t seq = seq_of(msg);
    if (seq == STREAM_END) {
        if (c->next != count + 1)
            die("END after %llu messages, expected %llu", (unsigned long long)(c->next - 1),
                (unsigned long long)count);
        check_payload(msg, len, seq);
        c->next = 1;
        return 1;
    }
    if (seq != c->next)
        die("sequence number %llu where %llu was due", (unsigned long long)seq,
            (unsigned long long)c->next);
    if (o->verify)
        check_payload(msg, len, seq);
    c->next++;
    return 0;
}

/* The client's check of the acknowledgement. */
static inline void check_ack(const uint8_t *msg, size_t len, const struct opts *o)
{
    if (len != o->size)
        die("the acknowledgement has %zu bytes, expected %zu", len, o->size);
    if (seq_of(msg) != STREAM_END)
        die("the acknowledgement carries sequence number %llu, not END",
            (unsigned long long)seq_of(msg));
    check_payload(msg, len, STREAM_END);
}

/* ---- framing over a byte stream (socketpair, pipe) ---------------------------------- */

/* Writes all n bytes (retrying partial writes and EINTR). */
static inline void write_all(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EPIPE || errno == ECONNRESET)
                die("the peer closed the stream (it exited?)");
            die_errno("write");
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Writes a 4-byte header and a payload from two buffers with one writev, as the Rust framing
 * sends a message above STAGED_MAX, then the rest of a partial write with write_all. */
static inline void writev_frame(int fd, const uint32_t *header, const uint8_t *msg, size_t len)
{
    struct iovec iov[2] = {{(void *)header, sizeof *header}, {(void *)msg, len}};
    ssize_t w;
    while ((w = writev(fd, iov, 2)) < 0 && errno == EINTR)
        ;
    if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
        die("the peer closed the stream (it exited?)");
    if (w < 0)
        die_errno("writev");
    size_t sent = (size_t)w; /* a partial write: the rest of the header, then of the payload */
    if (sent < sizeof *header) {
        write_all(fd, (const uint8_t *)header + sent, sizeof *header - sent);
        sent = sizeof *header;
    }
    write_all(fd, msg + (sent - sizeof *header), len - (sent - sizeof *header));
}

/* Reads one framed message of the expected size: a 4-byte native-endian length, then the
 * payload straight into buf. One readv of [header, buf] in the common case (it never reads
 * past this message), looping on partial reads. Returns the length the header announced. */
static inline size_t read_message(int fd, uint8_t *buf, size_t size)
{
    uint32_t len;
    struct iovec iov[2] = {{&len, sizeof len}, {buf, size}};
    struct iovec *v = iov;
    int nv = 2;
    size_t left = sizeof len + size;
    while (left > 0) {
        ssize_t r = readv(fd, v, nv);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            die_errno("read");
        }
        if (r == 0)
            die("the peer closed the stream (it exited?)");
        left -= (size_t)r;
        while (nv > 0 && (size_t)r >= v->iov_len) { /* drop the iovecs filled */
            r -= (ssize_t)v->iov_len;
            v++;
            nv--;
        }
        if (nv > 0) {
            v->iov_base = (uint8_t *)v->iov_base + r;
            v->iov_len -= (size_t)r;
        }
    }
    return len;
}

/* ---- timing and the result line ----------------------------------------------------- */

/* The client's clocks around one timed stream, and the server's CPU seconds over it. */
struct timed {
    double c0, t0, t1, c1, server_cpu;
};

static inline void timed_begin(struct timed *t)
{
    t->c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    t->t0 = clock_s(CLOCK_MONOTONIC);
}

static inline void timed_end(struct timed *t)
{
    t->t1 = clock_s(CLOCK_MONOTONIC);
    t->c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

/* mechanism size messages seconds msgs_per_s MB_per_s client_cpu_us_per_msg
 * server_cpu_us_per_msg (MB = 10^6 bytes of messages, sequence numbers included). */
static inline void report(const char *mechanism, const struct opts *o, const struct timed *t)
{
    double secs = t->t1 - t->t0, n = (double)o->count;
    printf("%s %zu %llu %.6f %.0f %.1f %.3f %.3f\n", mechanism, o->size,
           (unsigned long long)o->count, secs, n / secs, n * (double)o->size / secs / 1e6,
           (t->c1 - t->c0) / n * 1e6, t->server_cpu / n * 1e6);
}

#endif
