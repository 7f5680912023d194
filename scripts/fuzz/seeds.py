#!/usr/bin/env python3
"""scripts/fuzz/seeds.py CORPUS_DIR — writes a few well-formed inputs per fuzz target
into CORPUS_DIR/<target>/seed-N (missing ones only), so libFuzzer starts from the
shapes real clients and origins send rather than from nothing."""
import os
import struct
import sys


def pg(tag, body):
    return tag + struct.pack(">i", len(body) + 4) + body


def my(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def lenenc_str(s):
    return bytes([len(s)]) + s


startup = b"\x00\x03\x00\x00user\x00app~u\x00database\x00d\x00\x00"
greeting = (b"\x0a8.0.36\x00" + struct.pack("<I", 7) + b"abcdefgh\x00"
            + struct.pack("<H", 0xFFFF) + b"\x21" + struct.pack("<H", 2)
            + struct.pack("<H", 0xDFFF) + b"\x15" + b"\x00" * 10 + b"ijklmnopqrst\x00"
            + b"caching_sha2_password\x00")
response = (struct.pack("<I", 0x01AFA685) + struct.pack("<I", 1 << 24) + b"\x21" + b"\x00" * 23
            + b"app~u\x00" + b"\x14" + b"s" * 20 + b"db\x00" + b"mysql_native_password\x00"
            + b"\x0a\x03_os\x05Linux")
coldef = b"\x03def\x00\x00\x00\x01a\x00\x0c\x3f\x00\x0b\x00\x00\x00\x03\x00\x00\x00\x00"
text_rs = [b"\x01", coldef, b"\xfe\x00\x00\x02\x00", lenenc_str(b"42"), b"\xfb",
           b"\xfe\x00\x00\x02\x00"]
binary_rs = [b"\x02", coldef, coldef, b"\x00\x00\x08" + b"\x00" * 8 + lenenc_str(b"x"),
             b"\xfe\x00\x00\x02\x00\x00\x00"]
prepare_ok = [b"\x00\x01\x00\x00\x00\x01\x00\x01\x00\x00\x00", coldef, coldef]

def tds(kind, payload, size=4096):
    """payload as one TDS message of `kind` in packets of `size` bytes."""
    out, room, pid = b"", size - 8, 1
    chunks = [payload[i:i + room] for i in range(0, len(payload), room)] or [b""]
    for i, c in enumerate(chunks):
        status = 1 if i == len(chunks) - 1 else 0
        out += struct.pack(">BBHHBB", kind, status, len(c) + 8, 0, pid, 0) + c
        pid = (pid + 1) % 256
    return out


def u16le(s):
    return s.encode("utf-16-le")


tds_prelogin = (b"\x00\x00\x1a\x00\x06\x01\x00\x20\x00\x01\x02\x00\x21\x00\x01"
                b"\x03\x00\x22\x00\x04\x04\x00\x26\x00\x01\xff"
                b"\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00")


def tds_login7(user, db):
    p = bytearray(94)
    p[4:8] = struct.pack("<I", 0x74000004)
    p[8:12] = struct.pack("<I", 4096)
    for off, text in ((40, user), (68, db)):
        p[off:off + 4] = struct.pack("<HH", len(p), len(text))
        p += u16le(text)
    p[0:4] = struct.pack("<I", len(p))
    return bytes(p)


tds_result = (b"\x81\x01\x00" + b"\x00" * 4 + b"\x01\x00\x26\x04\x01" + u16le("a")
              + b"\xd1\x04\x2a\x00\x00\x00" + b"\xfd\x10\x00\xc1\x00" + struct.pack("<Q", 1))
tds_text_result = (b"\x81\x01\x00" + b"\x00" * 4 + b"\x01\x00\xe7\xff\xff\x09\x04\xd0\x00\x34\x01"
                   + u16le("t") + b"\xd1" + struct.pack("<Q", 4) + struct.pack("<I", 4) + u16le("hi")
                   + b"\x00\x00\x00\x00" + b"\xe3\x0b\x00\x08\x08" + b"\x01" * 8 + b"\x00"
                   + b"\xfd\x00\x00\xc1\x00" + struct.pack("<Q", 0))
all_headers = struct.pack("<IIHQI", 22, 18, 2, 0, 1)
sql = u16le("SELECT id FROM t WHERE id = @P1")
decl = u16le("@P1 int")
tds_rpc_call = (all_headers + b"\xff\xff\x0a\x00\x00\x00"
                + b"\x00\x00\xe7\x40\x1f\x09\x04\xd0\x00\x34" + struct.pack("<H", len(sql)) + sql
                + b"\x00\x00\xe7\x40\x1f\x09\x04\xd0\x00\x34" + struct.pack("<H", len(decl)) + decl
                + b"\x03" + u16le("@P1") + b"\x00\x26\x04\x04" + struct.pack("<i", 7))

SEEDS = {
    "pg_startup": [b"\x00\x00\x00\x08\x04\xd2\x16\x2f", struct.pack(">i", len(startup) + 4) + startup,
                   b"\x00\x00\x00\x10\x04\xd2\x16\x2e\x00\x00\x00\x01\x00\x00\x00\x02"],
    "pg_client": [b"\x01" + pg(b"Q", b"select 1\x00"),
                  b"\x07" + pg(b"P", b"s1\x00select $1\x00\x00\x01\x00\x00\x00\x17")
                  + pg(b"B", b"\x00s1\x00\x00\x00\x00\x01\x00\x00\x00\x011\x00\x00")
                  + pg(b"D", b"P\x00") + pg(b"E", b"\x00\x00\x00\x00\x00") + pg(b"S", b""),
                  b"\x03" + pg(b"p", b"SCRAM-SHA-256\x00\x00\x00\x00\x20y,,n=,r=abcdefgh")],
    "pg_origin": [b"\x05" + pg(b"R", b"\x00\x00\x00\x0aSCRAM-SHA-256-PLUS\x00SCRAM-SHA-256\x00\x00")
                  + pg(b"R", b"\x00\x00\x00\x05salt") + pg(b"S", b"TimeZone\x00UTC\x00")
                  + pg(b"Z", b"I"),
                  b"\x02" + pg(b"T", b"\x00\x01a\x00" + b"\x00" * 18) + pg(b"D", b"\x00\x02\x00\x00\x00\x0242\xff\xff\xff\xff")
                  + pg(b"C", b"SELECT 1\x00") + pg(b"E", b"SFATAL\x00VFATAL\x00C57P01\x00Mbye\x00\x00")],
    "my_greeting": [greeting],
    "my_handshake_response": [response, struct.pack("<I", 0x01AFAE85) + struct.pack("<I", 1 << 24) + b"\x21" + b"\x00" * 23],
    "my_auth_switch": [b"\x02" + my(2, b"\xfemysql_native_password\x00" + b"x" * 20 + b"\x00") + my(4, b"\x01\x04")
                       + my(6, b"\x00\x00\x00\x02\x00\x00\x00")],
    "my_command": [b"\x03" + my(0, b"\x03SELECT 1") + my(0, b"\x03KILL QUERY 7"),
                   b"\x05" + my(0, b"\x17\x01\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\x08\x00" + b"\x01" * 8)
                   + my(0, b"\x11app~u\x00\x00db\x00\x21\x00mysql_native_password\x00")],
    "my_answer": [b"\x00" + b"".join(my(i + 1, p) for i, p in enumerate(text_rs)),
                  b"\x08" + b"".join(my(i + 1, p) for i, p in enumerate(binary_rs)),
                  b"\x03" + b"".join(my(i + 1, p) for i, p in enumerate(prepare_ok))],
    "tds_packets": [tds(0x12, tds_prelogin), tds(0x01, all_headers + u16le("SELECT 1"), 512)
                    + tds(0x06, b"", 512), tds(0x04, tds_result * 40, 512)],
    "tds_prelogin": [tds_prelogin, tds(0x12, b"\x16\x03\x01\x00\x05hello", 512)],
    "tds_login": [tds_login7("demo-app", "shop"), tds_login7("", "")],
    "tds_tokens": [b"\x03" + tds_result, b"\x07" + tds_text_result],
    "tds_rpc": [tds_rpc_call, all_headers + u16le("SELECT 1")],
    "sql_fingerprint": [b"SELECT a, 'it''s', $1 FROM t WHERE b IN (1, 2, 3) -- c",
                        b"select $tag$x$tag$, E'\\n', /* c */ `q` from t for update"],
    "sql_classify": [b"WITH w AS (DELETE FROM t RETURNING *) SELECT * FROM w",
                     b"SELECT * FROM t LOCK IN SHARE MODE; SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                     b"BEGIN; UPDATE t SET a = now() WHERE b = 1; COMMIT"],
}


def main():
    root = sys.argv[1]
    for target, seeds in SEEDS.items():
        d = os.path.join(root, target)
        os.makedirs(d, exist_ok=True)
        for i, seed in enumerate(seeds):
            path = os.path.join(d, f"seed-{i}")
            if not os.path.exists(path):
                with open(path, "wb") as f:
                    f.write(seed)


if __name__ == "__main__":
    main()
