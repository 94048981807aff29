/* echo_spin.c: a plain-C echo server for transport-bench's shm-spin client, with the tool's
 * segment and its layout (src/transport/kinds/shm_spin.rs), so that `transport-bench --connect
 * shm-spin:CHANNEL` measures the tool's client against a server with no cost of the tool's
 * own. Beside rt_spin.c (C both sides) and the tool's own standalone server, it splits the
 * spinning round trip's cost between the tool's client and its server (docs/own-cost.md).
 *
 * Segment /srb_CHANNEL_spin of 4096 + 2 lanes (a lane: BUFFER_SIZE - 4 rounded up to a page):
 * a zero header (round trips), the request line at 64 and the response line at 128 (seq,
 * waiters, len: u32 each), the request payload at 4096, the response payload a lane later.
 * Each request is copied once, straight into the response, as the tool's server does. After
 * publishing, it wakes the client's futex if the client says it sleeps, behind the same
 * sequentially consistent fence as the tool's (without it a sleeping client could miss the
 * reply); build with -DNO_FENCE to drop both and see what they cost. It never sleeps: it
 * spins on its CPU until stopped. It prints READY once the segment exists, and on SIGTERM or
 * SIGINT unlinks it and exits; a request longer than the lane (which the tool's server
 * refuses too) ends it with exit 1, the segment unlinked.
 *
 * usage: echo_spin CHANNEL BUFFER_SIZE      (BUFFER_SIZE: 5 bytes or more, as the tool's)   */
#include "common.h"
#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#define PAGE 4096u
#define HEADER 4u

struct line {
    _Atomic uint32_t seq, waiters, len;
};

static char g_name[128];
static int g_created = 0; /* the segment is ours to unlink */
static volatile sig_atomic_t g_stop = 0;

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* perror, and the segment unlinked if it is ours. */
static void die_unlinking(const char *what)
{
    perror(what);
    if (g_created)
        shm_unlink(g_name);
    exit(1);
}

static void publish(struct line *line, uint32_t seq)
{
    atomic_store_explicit(&line->seq, seq, memory_order_release);
#ifndef NO_FENCE
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&line->waiters, memory_order_relaxed) != 0)
        syscall(SYS_futex, &line->seq, FUTEX_WAKE, 1, NULL, NULL, 0);
#endif
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s CHANNEL BUFFER_SIZE\n", argv[0]);
        return 2;
    }
    char *end;
    errno = 0;
    unsigned long long buffer_size = strtoull(argv[2], &end, 10);
    if (errno != 0 || end == argv[2] || *end != '\0' || argv[2][0] == '-' ||
        buffer_size <= HEADER || buffer_size > (1ull << 40)) {
        fprintf(stderr, "%s: BUFFER_SIZE must be a byte count from %u to 2^40, not %s\n",
                argv[0], HEADER + 1, argv[2]);
        return 2;
    }
    size_t capacity = (size_t)buffer_size - HEADER;
    size_t lane = (capacity + PAGE - 1) / PAGE * PAGE;
    size_t size = PAGE + 2 * lane;
    snprintf(g_name, sizeof g_name, "/srb_%s_spin", argv[1]);
    struct sigaction stop = {.sa_handler = on_stop};
    sigaction(SIGTERM, &stop, NULL);
    sigaction(SIGINT, &stop, NULL);
    int fd = shm_open(g_name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0)
        die_unlinking("shm_open");
    g_created = 1;
    if (ftruncate(fd, (off_t)size) != 0)
        die_unlinking("ftruncate");
    uint8_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mem == MAP_FAILED)
        die_unlinking("mmap");
    close(fd);
    struct line *request = (struct line *)(mem + 64), *response = (struct line *)(mem + 128);
    uint8_t *request_data = mem + PAGE, *response_data = mem + PAGE + lane;
    printf("READY\n");
    fflush(stdout);
    for (uint32_t seen = 0; !g_stop;) {
        uint32_t now = atomic_load_explicit(&request->seq, memory_order_acquire);
        if (now == seen) {
            cpu_relax();
            continue;
        }
        seen = now;
        uint32_t len = atomic_load_explicit(&request->len, memory_order_relaxed);
        if (len > capacity) {
            fprintf(stderr, "%s: a %u-byte request does not fit the %zu-byte lane\n", argv[0],
                    len, capacity);
            shm_unlink(g_name);
            return 1;
        }
        memcpy(response_data, request_data, len);
        atomic_store_explicit(&response->len, len, memory_order_relaxed);
        publish(response, seen);
    }
    shm_unlink(g_name);
    return 0;
}
