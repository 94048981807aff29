/* rt_pipe.c: round trips over two pipes (one each way), with the Rust tool's framing: a
 * 4-byte native-endian u32 length, then the payload, sent and received as transport-bench's
 * pipe does (round_trip.h: one write and one read of a staged frame up to 4096 bytes, one
 * writev and one readv of [header, payload] above, or always with -DVECTORED). Against
 * `perf bench sched pipe` (a bare 4-byte write and read each way), the difference is what the
 * framing costs the kernel; against transport-bench, what the tool's own loop costs.
 *
 * usage: rt_pipe SIZE COUNT [-p same|split] [-v]                                        */
#include "round_trip.h"

static int g_req[2], g_resp[2]; /* [0] read end, [1] write end */

static size_t round_trip(const uint8_t *req, uint8_t *resp, size_t len)
{
    send_framed(g_req[1], req, len);
    return receive_framed(g_resp[0], resp, len);
}

static void serve(const struct opts *o)
{
    uint8_t *buf = buffer_at(o->size, FRAMED_PAYLOAD_OFFSET);
    close(g_req[1]);
    close(g_resp[0]);
    for (;;)
        send_framed(g_resp[1], buf, receive_framed(g_req[0], buf, o->size));
}

int main(int argc, char **argv)
{
    struct opts o;
    parse_args(argc, argv, &o, MAX_SIZE);
    if (pipe(g_req) != 0 || pipe(g_resp) != 0)
        die_errno("pipe");
    raise_pipe(g_req[1], sizeof(uint32_t) + o.size);
    raise_pipe(g_resp[1], sizeof(uint32_t) + o.size);
    start_server(&o, serve);
    close(g_req[0]);
    close(g_resp[1]);
    double mean = run_round_trips(&o, round_trip, buffer_at(o.size, FRAMED_PAYLOAD_OFFSET),
                                  buffer_at(o.size, FRAMED_PAYLOAD_OFFSET));
    report_round_trips("pipe", &o, mean);
    return 0;
}
