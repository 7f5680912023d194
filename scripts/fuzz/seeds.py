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
