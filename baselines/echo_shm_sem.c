/* echo_shm_sem.c: a plain-C echo server for transport-bench's shm-posix client, with
 * shm-rpc-bridge's names and layout, so that `transport-bench --connect shm-posix:CHANNEL`
 * measures the tool's client against a server with no cost of the tool's own. Run beside the
 * tool's own standalone server (`transport-bench --server --transport shm-posix`), it splits
 * the tool's cost per round trip between its client and its server (docs/own-cost.md).
 *
 * Per direction D in {req, resp}: shared memory /srb_CHANNEL_D of BUFFER_SIZE bytes (a u32
 * length, then the payload) and semaphores /srb_CHANNEL_D_empty (1) and /srb_CHANNEL_D_full
 * (0). Each request is copied once, straight into the response, as the tool's server does, with
 * plain sem_wait and sem_post. It prints READY once the objects exist, and on SIGTERM or SIGINT
 * unlinks them and exits.
 *
 * usage: echo_shm_sem CHANNEL BUFFER_SIZE                                                */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HEADER 4u

static char g_names[6][128];
static int g_named = 0;
static volatile sig_atomic_t g_stop = 0;

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void unlink_all(void)
{
    for (int i = 0; i < g_named; i++) {
        if (i % 3 == 0)
            shm_unlink(g_names[i]);
        else
            sem_unlink(g_names[i]);
    }
}

static void die(const char *what)
{
    perror(what);
    unlink_all();
    exit(1);
}

struct direction {
    uint8_t *mem;
    sem_t *empty, *full;
};

static sem_t *make_semaphore(const char *name, unsigned value)
{
    sem_t *s = sem_open(name, O_CREAT | O_EXCL, 0600, value);
    if (s == SEM_FAILED)
        die(name);
    return s;
}

static struct direction make_direction(const char *channel, const char *d, size_t size)
{
    struct direction dir;
    char *shm = g_names[g_named], *empty = g_names[g_named + 1], *full = g_names[g_named + 2];
    snprintf(shm, 128, "/srb_%s_%s", channel, d);
    snprintf(empty, 128, "/srb_%s_%s_empty", channel, d);
    snprintf(full, 128, "/srb_%s_%s_full", channel, d);
    int fd = shm_open(shm, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0)
        die(shm);
    g_named++;
    if (ftruncate(fd, (off_t)size) != 0)
        die("ftruncate");
    dir.mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (dir.mem == MAP_FAILED)
        die("mmap");
    close(fd);
    dir.empty = make_semaphore(empty, 1);
    g_named++;
    dir.full = make_semaphore(full, 0);
    g_named++;
    return dir;
}

/* False once a stop was asked for: SIGTERM interrupts sem_wait (no SA_RESTART). */
static int wait_on(sem_t *s)
{
    while (sem_wait(s) != 0) {
        if (errno != EINTR)
            die("sem_wait");
        if (g_stop)
            return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: echo_shm_sem CHANNEL BUFFER_SIZE\n");
        return 2;
    }
    size_t size = strtoul(argv[2], NULL, 10);
    if (size <= HEADER) {
        fprintf(stderr, "echo_shm_sem: BUFFER_SIZE must be more than %u\n", HEADER);
        return 2;
    }
    struct sigaction stop = {.sa_handler = on_stop};
    sigaction(SIGTERM, &stop, NULL);
    sigaction(SIGINT, &stop, NULL);
    struct direction req = make_direction(argv[1], "req", size);
    struct direction resp = make_direction(argv[1], "resp", size);
    printf("READY\n");
    fflush(stdout);
    while (!g_stop && wait_on(req.full)) {
        uint32_t len;
        memcpy(&len, req.mem, HEADER);
        if (len > size - HEADER) {
            fprintf(stderr, "echo_shm_sem: a %u-byte request in a %zu-byte buffer\n", len, size);
            break;
        }
        if (!wait_on(resp.empty))
            break;
        memcpy(resp.mem, req.mem, HEADER + len);
        sem_post(req.empty);
        sem_post(resp.full);
    }
    unlink_all();
    return 0;
}
