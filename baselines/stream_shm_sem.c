/* stream_shm_sem.c: a one-way stream of SIZE-byte messages through one shared-memory slot
 * handed over by two named POSIX semaphores: transport-bench's shm-posix transport
 * (shm-rpc-bridge's single-slot protocol), one message in flight at a time.
 *
 * Objects: one POSIX shared-memory object (shm_open + ftruncate + mmap) holding a request
 * slot and a response slot, each a 4-byte native-endian u32 length then the message; and two
 * named semaphores (sem_open), "request" (starts at 0) and "free" (starts at 0). All three
 * are unlinked as soon as they are created: the mappings survive the fork, and nothing is
 * left in /dev/shm whatever happens after. (The Rust tool keeps one shm object and two
 * semaphores per direction, four in all, under shm-rpc-bridge's names.)
 *
 * Per message: the client waits "free" (except before the first message of a stream: the
 * slot is free then), copies length+message into the request slot, posts "request"; the
 * server waits "request", copies the message out to its own buffer, posts "free", then
 * checks it. For the END the server writes the echo into the response slot before it posts
 * "free", so the client's wait on "free" after the END is also its wait for the echo.
 *
 * usage: stream_shm_sem SIZE COUNT [-p same|split] [-v]                                   */
#include "common.h"
#include <fcntl.h>
#include <semaphore.h>
#include <sys/mman.h>

struct slot {
    uint32_t len;
    uint8_t data[];
};

static struct slot *g_req, *g_resp; /* the two slots in the shared region */
static sem_t *g_sem_req, *g_sem_free;
static int g_slot_free = 1;         /* client: the request slot may be written */

/* On SIGCHLD (the server died early): wake the client wherever it waits. */
static void wake_client(void)
{
    sem_post(g_sem_req);
    sem_post(g_sem_free);
}

static void wait_sem(sem_t *sem, const char *name)
{
    while (sem_wait(sem) != 0)
        if (errno != EINTR)
            die_errno("sem_wait(%s)", name);
    if (g_child > 0 && g_child_died)
        die("the server exited during the stream");
}

/* Creates a named semaphore and unlinks its name at once. */
static sem_t *new_semaphore(const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "/tb-baseline-%d-%s", (int)getpid(), what);
    sem_t *sem = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    int err = errno;
    sem_unlink(name);
    errno = err;
    if (sem == SEM_FAILED)
        die_errno("sem_open(%s)", name);
    return sem;
}

/* The server: two streams (warm-up, timed), each ended and acknowledged by its END. */
static void serve(const struct opts *o)
{
    /* Four bytes past a page, as a request slot's message lies (behind its length): each
     * message's copy is 0 mod a page apart, clear of AMD Zen's slow path for a copy 1-15
     * bytes ahead of its source (docs/own-cost.md). (The END's echo slot is not placed.) */
    uint8_t *msg = buffer_at(o->size, sizeof(uint32_t));
    struct stream_check check = {0};
    for (int stream = 0; stream < 2; stream++) {
        uint64_t count = stream == 0 ? WARMUP : o->count;
        for (;;) {
            wait_sem(g_sem_req, "request");
            size_t len = g_req->len;
            if (len > o->size)
                die("a %zu-byte message does not fit the %zu-byte slot", len, o->size);
            memcpy(msg, g_req->data, len);
            if (len < SEQ_LEN || seq_of(msg) != STREAM_END) {
                sem_post(g_sem_free); /* hand the slot back, then check the copy */
                check_message(&check, msg, len, o, count);
                continue;
            }
            check_message(&check, msg, len, o, count); /* the END: check, echo, post */
            g_resp->len = (uint32_t)len;
            memcpy(g_resp->data, msg, len);
            sem_post(g_sem_free);
            server_acked(stream);
            break;
        }
    }
}

static void send_message(const uint8_t *msg, size_t size)
{
    if (!g_slot_free)
        wait_sem(g_sem_free, "free");
    g_req->len = (uint32_t)size;
    memcpy(g_req->data, msg, size);
    g_slot_free = 0;
    if (sem_post(g_sem_req) != 0)
        die_errno("sem_post(request)");
}

/* The client's side of one stream: `count` messages, the END, then wait for its echo. */
static void send_stream(const struct opts *o, uint8_t *msg, uint64_t count)
{
    for (uint64_t seq = 1; seq <= count; seq++) {
        stamp_seq(msg, seq);
        send_message(msg, o->size);
    }
    stamp_seq(msg, STREAM_END);
    send_message(msg, o->size);
    wait_sem(g_sem_free, "free"); /* posted after the echo is in the response slot */
    g_slot_free = 1;
    check_ack(g_resp->data, g_resp->len, o);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct timed t;
    parse_args(argc, argv, &o, MAX_SIZE);
    size_t slot_bytes = (sizeof(struct slot) + o.size + 63) & ~(size_t)63;

    char name[64];
    snprintf(name, sizeof name, "/tb-baseline-%d-shm", (int)getpid());
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    int err = errno;
    shm_unlink(name);
    errno = err;
    if (fd < 0)
        die_errno("shm_open(%s)", name);
    if (ftruncate(fd, (off_t)(2 * slot_bytes)) != 0)
        die_errno("ftruncate");
    uint8_t *region = mmap(NULL, 2 * slot_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (region == MAP_FAILED)
        die_errno("mmap");
    close(fd);
    g_req = (struct slot *)region;
    g_resp = (struct slot *)(region + slot_bytes);
    g_sem_req = new_semaphore("request");
    g_sem_free = new_semaphore("free");
    g_sigchld_hook = wake_client;

    uint8_t *msg = buffer_at(o.size, sizeof(uint32_t)); /* placed as the server's */
    fill_pattern(msg, o.size);
    start_server(&o, serve);
    send_stream(&o, msg, WARMUP); /* untimed */
    timed_begin(&t);
    send_stream(&o, msg, o.count);
    timed_end(&t);
    t.server_cpu = finish_server();
    report("shm-sem", &o, &t);
    sem_close(g_sem_req);
    sem_close(g_sem_free);
    munmap(region, 2 * slot_bytes);
    return 0;
}
