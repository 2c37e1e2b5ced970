#!/usr/bin/python3
"""Added latency without netem: hold every packet of one netfilter queue for a while, then accept it.

The kernel here has no sch_netem and no nft `queue` statement, but it has xt NFQUEUE. The switch
namespace sends the frames of a delayed link to a queue with

    iptables -A FORWARD -m physdev --physdev-in A --physdev-out B -j NFQUEUE --queue-num Q --queue-bypass

and this program, bound to queue Q, gives each packet its verdict (ACCEPT) only after
delay +- jitter. It speaks nfnetlink_queue over a raw NETLINK_NETFILTER socket with the standard
library only (Node cannot open netlink sockets). It asks for packet metadata only (COPY_META):
the verdict needs nothing but the packet id.

Fail-open everywhere: --queue-bypass lets packets through while no one is bound, the queue is
configured with FAIL_OPEN so a full queue accepts instead of dropping, and SIGTERM/SIGINT accept
every packet still held before the socket closes (closing drops what is queued).

    nfq-delayer.py --queue Q --delay-ms D [--jitter-ms J] [--seed S]

Prints one line "ready queue=Q" on stdout once bound; counts on exit go to stderr.
"""
import argparse
import errno
import heapq
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLMSG_HEADER = struct.Struct('=IHHII')  # length, type, flags, sequence, port id
NFGEN_HEADER = struct.Struct('=BBH')  # family, version, resource id (network order, packed by hand)

NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2

NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQA_CFG_MASK = 4
NFQA_CFG_FLAGS = 5
NFQA_CFG_F_FAIL_OPEN = 0x1
NFQNL_CFG_CMD_BIND = 1
NFQNL_CFG_CMD_UNBIND = 2
NFQNL_COPY_META = 1
NLA_TYPE_MASK = 0x3FFF

NF_ACCEPT = 1
QUEUE_MAX_PACKETS = 8192
RECEIVE_BUFFER_BYTES = 8 << 20


class Netlink:
    """One nfnetlink_queue socket: configuration requests (acknowledged) and verdicts (not)."""

    def __init__(self, queue):
        self.queue = queue
        self.sequence = 0
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        self.sock.bind((0, 0))

    @staticmethod
    def attribute(kind, payload):
        length = 4 + len(payload)
        padding = (4 - length % 4) % 4
        return struct.pack('=HH', length, kind) + payload + b'\0' * padding

    def send(self, message_type, attributes, flags=NLM_F_REQUEST):
        self.sequence += 1
        body = NFGEN_HEADER.pack(socket.AF_UNSPEC, 0, socket.htons(self.queue)) + b''.join(attributes)
        header = NLMSG_HEADER.pack(NLMSG_HEADER.size + len(body), (NFNL_SUBSYS_QUEUE << 8) | message_type, flags, self.sequence, 0)
        self.sock.send(header + body)
        return self.sequence

    def configure(self, attributes):
        """Sends one configuration message and waits for its acknowledgement; raises on an error."""
        sequence = self.send(NFQNL_MSG_CONFIG, attributes, NLM_F_REQUEST | NLM_F_ACK)
        while True:
            data = self.sock.recv(65536)
            for message_type, message_sequence, payload in self.messages(data):
                if message_type == NLMSG_ERROR and message_sequence == sequence:
                    code = struct.unpack_from('=i', payload, 0)[0]
                    if code != 0:
                        raise OSError(-code, f'nfqueue configuration failed: {errno.errorcode.get(-code, -code)}')
                    return

    def bind(self):
        self.configure([self.attribute(NFQA_CFG_CMD, struct.pack('=BBH', NFQNL_CFG_CMD_BIND, 0, 0))])
        # Metadata only, no payload bytes: the verdict needs only the id.
        self.configure([self.attribute(NFQA_CFG_PARAMS, struct.pack('!IB', 0, NFQNL_COPY_META))])
        self.configure([self.attribute(NFQA_CFG_QUEUE_MAXLEN, struct.pack('!I', QUEUE_MAX_PACKETS))])
        try:
            self.configure([
                self.attribute(NFQA_CFG_MASK, struct.pack('!I', NFQA_CFG_F_FAIL_OPEN)),
                self.attribute(NFQA_CFG_FLAGS, struct.pack('!I', NFQA_CFG_F_FAIL_OPEN)),
            ])
        except OSError as error:
            # Old kernels lack the flag; the delay still works, a full queue then drops.
            print(f'nfq-delayer: FAIL_OPEN not supported ({error})', file=sys.stderr, flush=True)

    def unbind(self):
        try:
            self.configure([self.attribute(NFQA_CFG_CMD, struct.pack('=BBH', NFQNL_CFG_CMD_UNBIND, 0, 0))])
        except OSError:
            pass

    def accept(self, packet_id):
        self.send(NFQNL_MSG_VERDICT, [self.attribute(NFQA_VERDICT_HDR, struct.pack('!II', NF_ACCEPT, packet_id))])

    @staticmethod
    def messages(data):
        """Yields (type, sequence, payload after the netlink header) for each message in one read."""
        offset = 0
        while offset + NLMSG_HEADER.size <= len(data):
            length, message_type, _flags, sequence, _port = NLMSG_HEADER.unpack_from(data, offset)
            if length < NLMSG_HEADER.size:
                return
            yield message_type, sequence, data[offset + NLMSG_HEADER.size:offset + length]
            offset += (length + 3) & ~3

    @staticmethod
    def packet_id(payload):
        """The packet id from an NFQNL_MSG_PACKET payload (after nfgenmsg), or None."""
        offset = NFGEN_HEADER.size
        while offset + 4 <= len(payload):
            length, kind = struct.unpack_from('=HH', payload, offset)
            if length < 4:
                return None
            if kind & NLA_TYPE_MASK == NFQA_PACKET_HDR:
                return struct.unpack_from('!I', payload, offset + 4)[0]
            offset += (length + 3) & ~3
        return None


def main():
    parser = argparse.ArgumentParser(description='hold queued packets for a delay, then accept them')
    parser.add_argument('--queue', type=int, required=True)
    parser.add_argument('--delay-ms', type=float, required=True)
    parser.add_argument('--jitter-ms', type=float, default=0.0)
    parser.add_argument('--seed', type=int, default=None)
    options = parser.parse_args()
    if options.delay_ms < 0 or options.jitter_ms < 0:
        parser.error('delay and jitter must not be negative')
    draw = random.Random(options.seed)
    delay_s = options.delay_ms / 1000
    jitter_s = options.jitter_ms / 1000

    netlink = Netlink(options.queue)
    netlink.bind()
    stopping = False

    def stop(_signal, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f'ready queue={options.queue}', flush=True)

    held = []  # heap of (release time on the monotonic clock, arrival order, packet id)
    arrivals = 0
    overruns = 0
    while not stopping:
        timeout = max(0.0, held[0][0] - time.monotonic()) if held else 1.0
        try:
            readable, _, _ = select.select([netlink.sock], [], [], timeout)
        except InterruptedError:
            continue
        if readable:
            try:
                data = netlink.sock.recv(1 << 16)
            except OSError as error:
                # ENOBUFS: the kernel dropped messages for us; those packets are lost to the
                # queue's own timeout, the rest carry on.
                if error.errno == errno.ENOBUFS:
                    overruns += 1
                    continue
                raise
            now = time.monotonic()
            for message_type, _sequence, payload in Netlink.messages(data):
                if message_type != (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    continue
                packet_id = Netlink.packet_id(payload)
                if packet_id is None:
                    continue
                hold_s = max(0.0, delay_s + (draw.uniform(-jitter_s, jitter_s) if jitter_s > 0 else 0.0))
                arrivals += 1
                heapq.heappush(held, (now + hold_s, arrivals, packet_id))
        now = time.monotonic()
        while held and held[0][0] <= now:
            netlink.accept(heapq.heappop(held)[2])
    # Stopping: let everything still held through now, so healing never drops a packet.
    while held:
        netlink.accept(heapq.heappop(held)[2])
    netlink.unbind()
    print(f'nfq-delayer: queue {options.queue} delayed {arrivals} packets, {overruns} receive overruns', file=sys.stderr, flush=True)


if __name__ == '__main__':
    main()
