/* stream_pipe.c: a one-way stream of SIZE-byte messages over two anonymous pipes, one per
 * direction (the requests one way, the END's echo the other): transport-bench's pipe
 * transport, framed the same way as Unix stream.
 *
 * Framing as in the Rust tool: a 4-byte native-endian u32 length, then the message. The
 * client sends each message with one write(2) of header+message from one buffer; the server
 * reads each one with one readv(2) of [header, its own buffer] (looping on partial reads)
 * and checks it. The pipes are raised as the tool raises its own (raise_pipe, common.h), the
 * payloads placed as its are (buffer_at); the descriptors stay blocking (the tool bounds its
 * waits with its wait watchdog).
 *
 * usage: stream_pipe SIZE COUNT [-p same|split] [-v]                                      */
#include "common.h"

static int g_req[2], g_resp[2]; /* [0] read end, [1] write end */

/* The server: two streams (warm-up, timed), each ended and acknowledged by its END. */
static void serve(const struct opts *o)
{
    /* The payloads at transport-bench's offset (FRAMED_PAYLOAD_OFFSET), headers before them. */
    uint8_t *msg = buffer_at(o->size, FRAMED_PAYLOAD_OFFSET);
    uint8_t *out = buffer_at(sizeof(uint32_t) + o->size, FRAMED_PAYLOAD_OFFSET - sizeof(uint32_t));
    struct stream_check check = {0};
    close(g_req[1]);
    close(g_resp[0]);
    for (int stream = 0; stream < 2; stream++) {
        uint64_t count = stream == 0 ? WARMUP : o->count;
        for (;;) {
            size_t len = read_message(g_req[0], msg, o->size);
            if (check_message(&check, msg, len, o, count)) {
                uint32_t hdr = (uint32_t)len; /* echo the END: header + message, one write */
                memcpy(out, &hdr, sizeof hdr);
                memcpy(out + sizeof hdr, msg, len);
                write_all(g_resp[1], out, sizeof hdr + len);
                server_acked(stream);
                break;
            }
        }
    }
}

/* The client's side of one stream: `count` messages, the END, then wait for its echo. */
static void send_stream(const struct opts *o, uint8_t *frame, uint8_t *ack, uint64_t count)
{
    uint8_t *msg = frame + sizeof(uint32_t);
    size_t frame_len = sizeof(uint32_t) + o->size;
    for (uint64_t seq = 1; seq <= count; seq++) {
        stamp_seq(msg, seq);
        write_all(g_req[1], frame, frame_len);
    }
    stamp_seq(msg, STREAM_END);
    write_all(g_req[1], frame, frame_len);
    check_ack(ack, read_message(g_resp[0], ack, o->size), o);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct timed t;
    parse_args(argc, argv, &o, MAX_SIZE);
    if (pipe(g_req) != 0)
        die_errno("pipe");
    if (pipe(g_resp) != 0)
        die_errno("pipe");
    raise_pipe(g_req[1], sizeof(uint32_t) + o.size);
    raise_pipe(g_resp[1], sizeof(uint32_t) + o.size);
    uint8_t *frame = buffer_at(sizeof(uint32_t) + o.size, FRAMED_PAYLOAD_OFFSET - sizeof(uint32_t));
    uint8_t *ack = buffer_at(o.size, FRAMED_PAYLOAD_OFFSET);
    uint32_t hdr = (uint32_t)o.size;
    memcpy(frame, &hdr, sizeof hdr);
    fill_pattern(frame + sizeof hdr, o.size);

    start_server(&o, serve);
    close(g_req[0]); /* so that a dead server means EPIPE / EOF here */
    close(g_resp[1]);
    send_stream(&o, frame, ack, WARMUP); /* untimed */
    timed_begin(&t);
    send_stream(&o, frame, ack, o.count);
    timed_end(&t);
    t.server_cpu = finish_server();
    report("pipe", &o, &t);
    close(g_req[1]);
    close(g_resp[0]);
    return 0;
}
