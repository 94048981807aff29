/* rt_spin.c: round trips between two processes that only spin: the floor of what two
 * processes on separate CPUs can do, the mechanism of transport-bench's shm-spin without its
 * futex fallback. One MAP_SHARED|MAP_ANONYMOUS segment, laid out as shm-spin's: a request and
 * a response line (seq, len; each on its own cache line), then page-aligned request and
 * response payload areas. The client copies the request in and publishes its sequence number
 * (release); the server spins on it (acquire, with pause), copies the request to the response
 * area, publishes; the client spins, copies the echo out. Three copies, as shm-spin makes.
 * Give it -p split: on one CPU two spinners only take turns at the scheduler's tick.
 *
 * Built with -DFENCE, each side follows its publish with a sequentially consistent fence and a
 * load of the same line, as shm-spin's publish does (the fence keeps a futex sleeper from
 * missing the number; rt_spin never sleeps, so it needs none): the difference is what the
 * fence costs. -DPER_RT_CLOCK (round_trip.h) times each round trip between two clock reads.
 *
 * usage: rt_spin SIZE COUNT [-p same|split] [-v]                                         */
#include "round_trip.h"
#include <stdatomic.h>

struct line {
    _Atomic uint64_t seq;
    uint64_t len;
    char pad[48];
};
struct segment {
    struct line request, response;
    char pad[4096 - 2 * sizeof(struct line)];
};
static struct segment *g_seg;
static uint8_t *g_req_area, *g_resp_area;
static uint64_t g_seq;

/* Publishes `seq` on `line`; with -DFENCE, as shm-spin's publish: a full fence, then a look at
 * the line (where shm-spin reads its waiter count). */
static void publish(struct line *line, uint64_t seq)
{
    atomic_store_explicit(&line->seq, seq, memory_order_release);
#ifdef FENCE
    atomic_thread_fence(memory_order_seq_cst);
    __asm__ volatile("" ::"r"(*(volatile uint64_t *)&line->len));
#endif
}

static uint64_t await_change(_Atomic uint64_t *seq, uint64_t last)
{
    uint64_t now;
    while ((now = atomic_load_explicit(seq, memory_order_acquire)) == last) {
        cpu_relax();
        if (g_child_died)
            die("the server died");
    }
    return now;
}

static size_t round_trip(const uint8_t *req, uint8_t *resp, size_t len)
{
    memcpy(g_req_area, req, len);
    g_seg->request.len = len;
    publish(&g_seg->request, ++g_seq);
    await_change(&g_seg->response.seq, g_seq - 1);
    size_t back = g_seg->response.len;
    memcpy(resp, g_resp_area, back);
    return back;
}

static void serve(const struct opts *o)
{
    (void)o;
    for (uint64_t seen = 0;;) {
        seen = await_change(&g_seg->request.seq, seen);
        size_t len = g_seg->request.len;
        memcpy(g_resp_area, g_req_area, len);
        g_seg->response.len = len;
        publish(&g_seg->response, seen);
    }
}

int main(int argc, char **argv)
{
    struct opts o;
    parse_args(argc, argv, &o, MAX_SIZE);
    size_t lane = (o.size + 4095) / 4096 * 4096;
    uint8_t *mem = mmap(NULL, sizeof(struct segment) + 2 * lane, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        die_errno("mmap");
    g_seg = (struct segment *)mem;
    g_req_area = mem + sizeof(struct segment);
    g_resp_area = g_req_area + lane;
    start_server(&o, serve);
    double mean = run_round_trips(&o, round_trip, buffer_at(o.size, 0), buffer_at(o.size, 0));
    report_round_trips("spin", &o, mean);
    return 0;
}
