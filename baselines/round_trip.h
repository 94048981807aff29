/* round_trip.h: what the round-trip baselines share (rt_*.c), the plain-C bar for
 * transport-bench's round-trip pattern (docs/own-cost.md).
 *
 * The client (the parent) forks the server (the child, which dies with it and pins itself as
 * -p says). A round trip is a SIZE-byte request, stamped with its sequence number (8 bytes,
 * little-endian), and its echo, which the client checks: its length and sequence number, every
 * byte with -v (as transport-bench checks an echo: length and sequence always, every byte with
 * --verify-all). WARMUP round trips untimed, then COUNT timed as one region with
 * CLOCK_MONOTONIC: no clock per round trip, nothing recorded per round trip. The buffers sit
 * at the page offset the program asks for (buffer_at, common.h), as transport-bench puts its
 * buffers at the transport's payload offset, so that no copy meets AMD Zen's slow path for a
 * copy 1-15 bytes ahead of its source modulo a page, in glibc's memcpy or in the kernel's.
 *
 * Output, one line: mechanism size count mean_us. At the end the client kills and reaps the
 * server; named objects are unlinked as soon as they are made, so nothing is left behind. */
#ifndef BASELINES_ROUND_TRIP_H
#define BASELINES_ROUND_TRIP_H

#include "common.h"
#include <sys/uio.h>

/* One round trip: sends `len` bytes of `req`, receives the echo into `resp`, returns its length. */
typedef size_t (*round_trip_fn)(const uint8_t *req, uint8_t *resp, size_t len);

static inline void check_echo(const uint8_t *req, const uint8_t *resp, size_t len,
                              const struct opts *o, uint64_t seq)
{
    if (len != o->size)
        die("round trip %llu: %zu bytes back, %zu sent", (unsigned long long)seq, len, o->size);
    if (seq_of(resp) != seq || (o->verify && memcmp(req, resp, len) != 0))
        die("round trip %llu: the echo differs", (unsigned long long)seq);
}

/* Runs the warm-up and the timed round trips; returns the mean round trip in µs. */
static inline double run_round_trips(const struct opts *o, round_trip_fn rt, uint8_t *req,
                                     uint8_t *resp)
{
    fill_pattern(req, o->size);
    for (uint64_t seq = 1; seq <= WARMUP; seq++) {
        stamp_seq(req, seq);
        check_echo(req, resp, rt(req, resp, o->size), o, seq);
    }
#ifdef PER_RT_CLOCK
    /* As transport-bench times: each round trip between two clock reads, and the mean of
     * those, so that the difference to the one-region figure is the clock's own cost. */
    double timed = 0;
    for (uint64_t seq = WARMUP + 1; seq <= WARMUP + o->count; seq++) {
        stamp_seq(req, seq);
        struct timespec before, after;
        clock_gettime(CLOCK_MONOTONIC, &before);
        size_t len = rt(req, resp, o->size);
        clock_gettime(CLOCK_MONOTONIC, &after);
        timed += (double)(after.tv_sec - before.tv_sec) * 1e9 + (double)(after.tv_nsec - before.tv_nsec);
        check_echo(req, resp, len, o, seq);
    }
    return timed / (double)o->count / 1e3;
#else
    double start = clock_s(CLOCK_MONOTONIC);
    for (uint64_t seq = WARMUP + 1; seq <= WARMUP + o->count; seq++) {
        stamp_seq(req, seq);
        check_echo(req, resp, rt(req, resp, o->size), o, seq);
    }
    return (clock_s(CLOCK_MONOTONIC) - start) / (double)o->count * 1e6;
#endif
}

/* Payloads up to this many bytes are staged, as the Rust framing stages them
 * (src/transport/blocks/framing/codec.rs): copied behind their header into one buffer, sent
 * with one write and received with one read into one buffer, then copied out. Built with
 * -DVECTORED, every message goes out with one writev of [header, payload] and comes in with one
 * readv of [header, buffer], as the Rust framing did before it staged small messages: the
 * difference is what the kernel's iovec import costs (docs/own-cost.md). */
#define STAGED_MAX 4096

/* The staging buffer, its payload at FRAMED_PAYLOAD_OFFSET as the Rust framing's (glibc copies
 * 2 KiB and more with rep movsb where the CPU has FSRM: placed as the caller's buffers, the
 * copies in and out run at a distance of 0 mod a page). One serves both directions: a process
 * sends and receives in turn. */
static inline uint8_t *staging_frame(void)
{
    static uint8_t *frame;
    if (!frame)
        frame = buffer_at(sizeof(uint32_t) + STAGED_MAX, FRAMED_PAYLOAD_OFFSET - sizeof(uint32_t));
    return frame;
}

/* Sends one framed message (a 4-byte native-endian u32 length, then the payload), as the Rust
 * framing does: staged up to STAGED_MAX bytes, else one writev of [header, payload]; finishes
 * a partial write. */
static inline void send_framed(int fd, const uint8_t *msg, size_t len)
{
    uint32_t header = (uint32_t)len;
#ifndef VECTORED
    if (len <= STAGED_MAX) {
        uint8_t *frame = staging_frame();
        memcpy(frame, &header, sizeof header);
        memcpy(frame + sizeof header, msg, len);
        write_all(fd, frame, sizeof header + len);
        return;
    }
#endif
    writev_frame(fd, &header, msg, len);
}

/* Receives one framed message of `size` bytes (a round trip's sizes never change) into `buf`, as
 * the Rust framing does: up to STAGED_MAX bytes one read of the whole frame into one buffer
 * (looping on partial reads), copied out; above, read_message's readv of [header, buffer]. */
static inline size_t receive_framed(int fd, uint8_t *buf, size_t size)
{
#ifndef VECTORED
    if (size <= STAGED_MAX) {
        uint8_t *frame = staging_frame();
        size_t want = sizeof(uint32_t) + size, got = 0;
        while (got < want) {
            ssize_t r = read(fd, frame + got, want - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                die_errno("read");
            if (r == 0)
                die("the peer closed the stream (it exited?)");
            got += (size_t)r;
        }
        uint32_t len;
        memcpy(&len, frame, sizeof len);
        if (len != size)
            die("a message of another size than the round trip's");
        memcpy(buf, frame + sizeof len, size);
        return size;
    }
#endif
    return read_message(fd, buf, size);
}

/* Ends the server (it never exits on its own) and prints the result line. */
static inline void report_round_trips(const char *mechanism, const struct opts *o, double mean_us)
{
    kill(g_child, SIGKILL);
    waitpid(g_child, NULL, 0);
    g_child = 0;
    printf("%s %zu %llu %.3f\n", mechanism, o->size, (unsigned long long)o->count, mean_us);
}

#endif
