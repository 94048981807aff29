/* rt_shm_sem.c: round trips over shared memory and named POSIX semaphores, shm-rpc-bridge's
 * protocol, the mechanism of transport-bench's shm-posix: per direction one shm object
 * (a u32 length, then the payload, page-aligned) and two named semaphores, empty (starting
 * at 1) and full (starting at 0). A sender waits empty, writes, posts full; a receiver waits
 * full, reads, posts empty. The same eight semaphore operations per round trip as the Rust
 * transport, with plain sem_wait (as the Rust transport under its wait watchdog; without one it
 * waits with sem_timedwait in slices, as -DTIMED_WAIT does here). Four copies, as
 * shm-rpc-bridge makes: the request in and out, the echo in and out
 * (the Rust transport makes three: its server copies the request straight into the response).
 *
 * usage: rt_shm_sem SIZE COUNT [-p same|split] [-v]                                     */
#include "round_trip.h"
#include <fcntl.h>
#include <semaphore.h>

struct direction {
    uint8_t *mem; /* u32 length, then the payload */
    sem_t *empty, *full;
};
static struct direction g_req, g_resp;
#define HEADER 4u

static sem_t *make_semaphore(const char *what, unsigned value)
{
    char name[64];
    snprintf(name, sizeof name, "/tb-baseline-%d-%s", (int)getpid(), what);
    sem_t *s = sem_open(name, O_CREAT | O_EXCL, 0600, value);
    if (s == SEM_FAILED)
        die_errno("sem_open %s", name);
    sem_unlink(name); /* the mapping lives on in both processes */
    return s;
}

static struct direction make_direction(const char *what, size_t size)
{
    char name[64];
    snprintf(name, sizeof name, "/tb-baseline-%d-%s", (int)getpid(), what);
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0)
        die_errno("shm_open %s", name);
    shm_unlink(name);
    if (ftruncate(fd, (off_t)(HEADER + size)) != 0)
        die_errno("ftruncate");
    struct direction d;
    d.mem = mmap(NULL, HEADER + size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (d.mem == MAP_FAILED)
        die_errno("mmap");
    close(fd);
    char sem[64];
    snprintf(sem, sizeof sem, "%s-empty", what);
    d.empty = make_semaphore(sem, 1);
    snprintf(sem, sizeof sem, "%s-full", what);
    d.full = make_semaphore(sem, 0);
    return d;
}

/* Built with -DTIMED_WAIT, every wait is a sem_timedwait with a deadline 50 ms ahead, as
 * the Rust transport's slices: what arming a timer per wait costs. */
static int wait_once(sem_t *s)
{
#ifdef TIMED_WAIT
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += 50000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    return sem_timedwait(s, &deadline);
#else
    return sem_wait(s);
#endif
}

static void wait_on(sem_t *s)
{
    while (wait_once(s) != 0) {
        if (errno != EINTR)
            die_errno("sem_wait");
        if (g_child_died)
            die("the server died");
    }
}

static void post(sem_t *s)
{
    if (sem_post(s) != 0)
        die_errno("sem_post");
}

static void send_message(struct direction *d, const uint8_t *msg, size_t len)
{
    wait_on(d->empty);
    uint32_t header = (uint32_t)len;
    memcpy(d->mem, &header, HEADER);
    memcpy(d->mem + HEADER, msg, len);
    post(d->full);
}

static size_t receive_message(struct direction *d, uint8_t *out, size_t max)
{
    wait_on(d->full);
    uint32_t len;
    memcpy(&len, d->mem, HEADER);
    if (len > max)
        die("a %u-byte message in a %zu-byte buffer", len, max);
    memcpy(out, d->mem + HEADER, len);
    post(d->empty);
    return len;
}

static size_t round_trip(const uint8_t *req, uint8_t *resp, size_t len)
{
    send_message(&g_req, req, len);
    return receive_message(&g_resp, resp, len);
}

static void serve(const struct opts *o)
{
    uint8_t *buf = buffer_at(o->size, HEADER);
    for (;;)
        send_message(&g_resp, buf, receive_message(&g_req, buf, o->size));
}

/* A server that dies mid-wait: wake the client so that it sees the flag. */
static void wake_client(void)
{
    sem_post(g_resp.full);
}

int main(int argc, char **argv)
{
    struct opts o;
    parse_args(argc, argv, &o, MAX_SIZE);
    g_req = make_direction("req", o.size);
    g_resp = make_direction("resp", o.size);
    g_sigchld_hook = wake_client;
    start_server(&o, serve);
    double mean = run_round_trips(&o, round_trip, buffer_at(o.size, HEADER),
                                  buffer_at(o.size, HEADER));
    report_round_trips("shm-sem", &o, mean);
    return 0;
}
