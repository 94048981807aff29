/* stream_spin_ring.c: a one-way stream of SIZE-byte messages through a single-producer
 * single-consumer ring in shared memory, both sides busy-spinning: the mechanism of
 * transport-bench's shm-spin transport under --pattern stream, without its futex fallback
 * (here a waiter spins for ever, so give each process a CPU of its own: -p split).
 *
 * Layout (one mmap(MAP_SHARED | MAP_ANONYMOUS) before the fork, no named object): 64 slots
 * of 4096 bytes, each a 4-byte length then up to 4092 bytes of message; a response slot for
 * the END's echo; and three uint64 counters, each on its own cache line: the write index
 * (messages published), the read index (messages consumed), the acknowledgement count.
 *
 * The writer fills slot write%64, then publishes it with a release store of write+1; before
 * that it waits while the ring looks full, re-reading the read index (acquire) only then
 * (it keeps a cached copy). The reader, likewise with a cached write index, copies the slot
 * out to its own buffer, releases it with a release store of read+1, then checks the copy.
 * The END is echoed into the response slot and published by a release store of the ack
 * count, which the client spins on.
 *
 * usage: stream_spin_ring SIZE COUNT [-p same|split] [-v]       (SIZE at most 4092)       */
#include "common.h"
#include <stdatomic.h>
#include <sys/mman.h>

#define SLOTS 64
#define SLOT_BYTES 4096
#define SLOT_PAYLOAD (SLOT_BYTES - sizeof(uint32_t))

struct slot {
    uint32_t len;
    uint8_t data[SLOT_PAYLOAD];
};

struct ring {
    struct slot slots[SLOTS];                /* page-aligned: the mapping starts here */
    struct slot resp;                        /* the END's echo */
    _Alignas(64) _Atomic uint64_t write_idx; /* written by the client only */
    _Alignas(64) _Atomic uint64_t read_idx;  /* written by the server only */
    _Alignas(64) _Atomic uint64_t acks;      /* written by the server only */
};

static struct ring *g_ring;

/* A spin that gives up if the server died (the client's loops; the server dies with it). */
static inline void spin_once(void)
{
    cpu_relax();
    if (g_child > 0 && g_child_died)
        die("the server exited during the stream");
}

/* The server: two streams (warm-up, timed), each ended and acknowledged by its END. */
static void serve(const struct opts *o)
{
    /* Four bytes past a page, as a request slot's message lies (behind its length): each
     * message's copy is 0 mod a page apart, clear of AMD Zen's slow path for a copy 1-15
     * bytes ahead of its source (docs/own-cost.md), the END's echo slot included. */
    uint8_t *msg = buffer_at(o->size, sizeof(uint32_t));
    struct stream_check check = {0};
    uint64_t read = 0, write_seen = 0, acks = 0;
    for (int stream = 0; stream < 2; stream++) {
        uint64_t count = stream == 0 ? WARMUP : o->count;
        for (;;) {
            while (read == write_seen) { /* looks empty: look again */
                write_seen = atomic_load_explicit(&g_ring->write_idx, memory_order_acquire);
                if (read == write_seen)
                    cpu_relax();
            }
            struct slot *s = &g_ring->slots[read % SLOTS];
            size_t len = s->len;
            if (len > o->size)
                die("a %zu-byte message in a %zu-byte stream", len, o->size);
            memcpy(msg, s->data, len);
            atomic_store_explicit(&g_ring->read_idx, ++read, memory_order_release);
            if (check_message(&check, msg, len, o, count)) { /* the END: echo it */
                g_ring->resp.len = (uint32_t)len;
                memcpy(g_ring->resp.data, msg, len);
                atomic_store_explicit(&g_ring->acks, ++acks, memory_order_release);
                server_acked(stream);
                break;
            }
        }
    }
}

/* The client's ring state, kept across streams. */
static uint64_t g_write, g_read_seen, g_acks;

static void send_message(const uint8_t *msg, size_t size)
{
    while (g_write - g_read_seen == SLOTS) { /* looks full: look again */
        g_read_seen = atomic_load_explicit(&g_ring->read_idx, memory_order_acquire);
        if (g_write - g_read_seen == SLOTS)
            spin_once();
    }
    struct slot *s = &g_ring->slots[g_write % SLOTS];
    s->len = (uint32_t)size;
    memcpy(s->data, msg, size);
    atomic_store_explicit(&g_ring->write_idx, ++g_write, memory_order_release);
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
    while (atomic_load_explicit(&g_ring->acks, memory_order_acquire) == g_acks)
        spin_once();
    g_acks++;
    check_ack(g_ring->resp.data, g_ring->resp.len, o);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct timed t;
    parse_args(argc, argv, &o, SLOT_PAYLOAD);
    g_ring = mmap(NULL, sizeof *g_ring, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                  -1, 0);
    if (g_ring == MAP_FAILED)
        die_errno("mmap");
    /* A fresh anonymous mapping is zero: every index and count starts at 0. */
    uint8_t *msg = buffer_at(o.size, sizeof(uint32_t)); /* placed as the server's */
    fill_pattern(msg, o.size);
    start_server(&o, serve);
    send_stream(&o, msg, WARMUP); /* untimed */
    timed_begin(&t);
    send_stream(&o, msg, o.count);
    timed_end(&t);
    t.server_cpu = finish_server();
    report("spin-ring", &o, &t);
    munmap(g_ring, sizeof *g_ring);
    return 0;
}
