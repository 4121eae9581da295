#!/usr/bin/env python3
"""Writes dtmf_rfc4733.pcap: a synthetic capture (classic pcap, Ethernet/IPv4/UDP) of one PCMU stream
with RFC 4733 telephone-events (PT 101), modelled on real captures (sipp's dtmf_2833_*.pcap, which are
GPL sample data and so not copied here). Run from this directory: python3 make_dtmf_pcap.py

Stream: 8 kHz, 20 ms packets, SSRC 0x0e05384e; audio is suppressed while an event is sent.
Events (duration in timestamp units):
  '1' at 200 ms, 1600 (200 ms): start, 10 updates, 3 end packets with distinct sequence numbers
  '#' at 800 ms, 1920 (240 ms): 3 end packets that are byte-identical (same sequence number, as sipp's)
  '9' at 1400 ms, 1280 (160 ms): start packet lost (missing from the capture), no marker anywhere
  'D' right after '9' (back to back), 960 (120 ms)
"""
import struct

SSRC = 0x0E05384E
SRC, DST, SPORT, DPORT = bytes([192, 0, 2, 10]), bytes([192, 0, 2, 20]), 40000, 30000
EVENTS = [  # (event code, start ms, updates, identical_ends, lose_start)
    (1, 200, 10, False, False),
    (11, 800, 12, True, False),
    (9, 1400, 8, False, True),
    (15, 1580, 6, False, False),
]


def ip_checksum(h):
    s = sum(struct.unpack("!10H", h))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def frame(rtp):
    udp = struct.pack("!HHHH", SPORT, DPORT, 8 + len(rtp), 0) + rtp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, SRC, DST)
    ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
    eth = bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]) + b"\x08\x00"
    return eth + ip + udp


def rtp(pt, marker, seq, ts, payload):
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, SSRC) + payload


def main():
    packets = []  # (ms, bytes)
    seq, base_ts = 5000, 123456
    busy_until = -1
    ev_iter = iter(EVENTS)
    nxt = next(ev_iter, None)
    ms = 0
    while ms <= 2000:
        if nxt and ms == nxt[1]:
            code, start, updates, identical, lose_start = nxt
            ts = base_ts + start * 8
            for k in range(updates + 1):
                at = start + 20 * k
                payload = struct.pack("!BBH", code, 10, 160 * k)
                if not (k == 0 and lose_start):
                    packets.append((at, rtp(101, k == 0 and not lose_start and code != 9, seq, ts, payload)))
                seq += 1
            at = start + 20 * (updates + 1)
            end = struct.pack("!BBH", code, 0x80 | 10, 160 * updates)
            for r in range(3):
                packets.append((at, rtp(101, False, seq, ts, end)))
                if not identical:
                    seq += 1
            if identical:
                seq += 1
            busy_until = at
            nxt = next(ev_iter, None)
            if nxt and nxt[1] <= at:
                ms = nxt[1]
                continue
            ms = at + 20
            continue
        if ms > busy_until:
            packets.append((ms, rtp(0, False, seq, base_ts + ms * 8, bytes([0xFF]) * 160)))
            seq += 1
        ms += 20
    with open("dtmf_rfc4733.pcap", "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for at, p in sorted(packets, key=lambda x: x[0]):
            fr = frame(p)
            f.write(struct.pack("<IIII", 1_700_000_000 + at // 1000, (at % 1000) * 1000, len(fr), len(fr)))
            f.write(fr)


if __name__ == "__main__":
    main()
