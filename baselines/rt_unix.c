/* rt_unix.c: round trips over a connected Unix stream socket (socketpair(AF_UNIX,
 * SOCK_STREAM): the socket kind of transport-bench's unix-stream, which connects through a
 * socket file), with the Rust tool's framing: a 4-byte native-endian u32 length, then the
 * payload, sent and received as the Rust framing does (round_trip.h: a staged frame up to 4096
 * bytes in one write and one read, else one writev of [header, payload] and one readv of
 * [header, buffer], looping on partial reads; always the vectored calls with -DVECTORED).
 * Plain blocking calls; built with -DTIMED_WAIT, both sockets get SO_RCVTIMEO 50 ms, as the
 * Rust transport's slices: what a timeout per blocking receive costs.
 *
 * usage: rt_unix SIZE COUNT [-p same|split] [-v]                                        */
#include "round_trip.h"
#include <sys/socket.h>

static int g_fd[2]; /* [0] the client's end, [1] the server's */

static size_t round_trip(const uint8_t *req, uint8_t *resp, size_t len)
{
    send_framed(g_fd[0], req, len);
    return receive_framed(g_fd[0], resp, len);
}

static void serve(const struct opts *o)
{
    uint8_t *buf = buffer_at(o->size, FRAMED_PAYLOAD_OFFSET);
    close(g_fd[0]);
    for (;;)
        send_framed(g_fd[1], buf, receive_framed(g_fd[1], buf, o->size));
}

int main(int argc, char **argv)
{
    struct opts o;
    parse_args(argc, argv, &o, MAX_SIZE);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, g_fd) != 0)
        die_errno("socketpair");
#ifdef TIMED_WAIT
    struct timeval slice = {0, 50000};
    for (int i = 0; i < 2; i++)
        if (setsockopt(g_fd[i], SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof slice) != 0)
            die_errno("SO_RCVTIMEO");
#endif
    start_server(&o, serve);
    close(g_fd[1]);
    double mean = run_round_trips(&o, round_trip, buffer_at(o.size, FRAMED_PAYLOAD_OFFSET),
                                  buffer_at(o.size, FRAMED_PAYLOAD_OFFSET));
    report_round_trips("unix", &o, mean);
    return 0;
}
