/* stream_socketpair.c: a one-way stream of SIZE-byte messages over a connected Unix stream
 * socket, socketpair(AF_UNIX, SOCK_STREAM): the kernel primitive of transport-bench's
 * unix-stream transport (which connects to a socket file; the socket is the same kind).
 *
 * Framing as in the Rust tool: a 4-byte native-endian u32 length, then the message. The
 * client sends each message with one write(2) of header+message from one buffer; the server
 * reads each one with one readv(2) of [header, its own buffer] (looping on partial reads)
 * and checks it. The END message is echoed back over the same socket.
 *
 * Built with -DTCP_LOOPBACK (as stream_tcp), the two ends are a TCP connection on 127.0.0.1
 * instead, with TCP_NODELAY as transport-bench's tcp transport sets it: the tcp transport's
 * mechanism read as the tool reads it, one message per read, where iperf3 polls before each
 * read (docs/own-cost.md). -DPOLL_FIRST makes the server poll(2) before each read, as
 * iperf3's receiver selects before each: a reader one system call slower per message.
 * Two more, each a way the tool differs, to measure what it costs: -DWRITEV sends each
 * message with one writev(2) of [header, message], as the tool does above 4 KiB, instead of
 * one write(2); -DHELPER_THREAD starts an idle thread in the client and in the server, as the
 * tool's processes hold helper threads (the one that reads the driver's commands and sees its
 * end, and the wait watchdog), so
 * that their descriptor table is shared and each system call on a descriptor counts a
 * reference to its file (fdget/fput), which a single-threaded process skips.
 *
 * usage: stream_socketpair SIZE COUNT [-p same|split] [-v]                                */
#include "common.h"
#include <sys/socket.h>
#ifdef HELPER_THREAD
#include <pthread.h>
#endif
#ifdef POLL_FIRST
#include <poll.h>
#endif
#ifdef TCP_LOOPBACK
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#endif

#ifdef HELPER_THREAD
/* A thread that only waits, as the tool's helpers do while a stream runs. */
static void *idle_helper(void *unused)
{
    (void)unused;
    for (;;)
        pause();
    return NULL;
}

static void start_helper_thread(void)
{
    pthread_t helper;
    if (pthread_create(&helper, NULL, idle_helper, NULL) != 0)
        die("pthread_create");
}
#endif

static int g_fd[2]; /* [0] the client's end, [1] the server's */

/* The server: two streams (warm-up, timed), each ended and acknowledged by its END. */
static void serve(const struct opts *o)
{
    /* The payloads at transport-bench's offset (FRAMED_PAYLOAD_OFFSET), headers before them. */
    uint8_t *msg = buffer_at(o->size, FRAMED_PAYLOAD_OFFSET);
    uint8_t *out = buffer_at(sizeof(uint32_t) + o->size, FRAMED_PAYLOAD_OFFSET - sizeof(uint32_t));
    struct stream_check check = {0};
    close(g_fd[0]);
#ifdef HELPER_THREAD
    start_helper_thread();
#endif
    for (int stream = 0; stream < 2; stream++) {
        uint64_t count = stream == 0 ? WARMUP : o->count;
        for (;;) {
#ifdef POLL_FIRST
            struct pollfd ready = {.fd = g_fd[1], .events = POLLIN};
            if (poll(&ready, 1, -1) < 0)
                die_errno("poll");
#endif
            size_t len = read_message(g_fd[1], msg, o->size);
            if (check_message(&check, msg, len, o, count)) {
                uint32_t hdr = (uint32_t)len; /* echo the END: header + message, one write */
                memcpy(out, &hdr, sizeof hdr);
                memcpy(out + sizeof hdr, msg, len);
                write_all(g_fd[1], out, sizeof hdr + len);
                server_acked(stream);
                break;
            }
        }
    }
}

/* Sends one framed message: one write of header+message, or (-DWRITEV) one writev of the
 * two, as the tool. */
static void send_frame(const uint8_t *frame, size_t frame_len)
{
#ifdef WRITEV
    const uint32_t *header = (const uint32_t *)frame;
    writev_frame(g_fd[0], header, frame + sizeof *header, frame_len - sizeof *header);
#else
    write_all(g_fd[0], frame, frame_len);
#endif
}

/* The client's side of one stream: `count` messages, the END, then wait for its echo. */
static void send_stream(const struct opts *o, uint8_t *frame, uint8_t *ack, uint64_t count)
{
    uint8_t *msg = frame + sizeof(uint32_t);
    size_t frame_len = sizeof(uint32_t) + o->size;
    for (uint64_t seq = 1; seq <= count; seq++) {
        stamp_seq(msg, seq);
        send_frame(frame, frame_len);
    }
    stamp_seq(msg, STREAM_END);
    send_frame(frame, frame_len);
    check_ack(ack, read_message(g_fd[0], ack, o->size), o);
}

/* The connected pair: a socketpair, or (-DTCP_LOOPBACK) a TCP connection over loopback. */
static void connect_ends(void)
{
#ifdef TCP_LOOPBACK
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t addr_len = sizeof addr;
    int one = 1;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(listener, 1) != 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &addr_len) != 0)
        die_errno("listening on 127.0.0.1");
    g_fd[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (g_fd[0] < 0 || connect(g_fd[0], (struct sockaddr *)&addr, sizeof addr) != 0)
        die_errno("connecting");
    g_fd[1] = accept(listener, NULL, NULL);
    if (g_fd[1] < 0)
        die_errno("accept");
    close(listener);
    for (int i = 0; i < 2; i++)
        if (setsockopt(g_fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
            die_errno("TCP_NODELAY");
#else
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, g_fd) != 0)
        die_errno("socketpair");
#endif
}

int main(int argc, char **argv)
{
    struct opts o;
    struct timed t;
    parse_args(argc, argv, &o, MAX_SIZE);
    connect_ends();
    uint8_t *frame = buffer_at(sizeof(uint32_t) + o.size, FRAMED_PAYLOAD_OFFSET - sizeof(uint32_t));
    uint8_t *ack = buffer_at(o.size, FRAMED_PAYLOAD_OFFSET);
    uint32_t hdr = (uint32_t)o.size;
    memcpy(frame, &hdr, sizeof hdr);
    fill_pattern(frame + sizeof hdr, o.size);

    start_server(&o, serve);
    close(g_fd[1]);
#ifdef HELPER_THREAD
    start_helper_thread();
#endif
    send_stream(&o, frame, ack, WARMUP); /* untimed */
    timed_begin(&t);
    send_stream(&o, frame, ack, o.count);
    timed_end(&t);
    t.server_cpu = finish_server();
#ifdef TCP_LOOPBACK
    report("tcp", &o, &t);
#else
    report("socketpair", &o, &t);
#endif
    close(g_fd[0]);
    return 0;
}
