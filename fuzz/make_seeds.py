#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: fuzz/corpus/<target>/<name>.

Each seed is a small, valid input of its target, plus the hostile inputs of
issue 10: every step of finding 1 and finding 2's deeply nested steps (two of
the issue's 490-level steps, rather than 40, to keep libFuzzer's input length
small), taken from rtpm/testing/hostile_steps.h so that the tests and the
corpora hold the same steps. Binary seeds use the binary codec's plain forms
(no dictionary references; docs/protocol.md).

Run it again after changing the seeds or hostile_steps.h:

    python3 fuzz/make_seeds.py
"""

import json
import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def hostile():
    """The named steps of rtpm/testing/hostile_steps.h: {name: step JSON text}."""
    with open(os.path.join(ROOT, "rtpm", "testing", "hostile_steps.h")) as f:
        text = f.read()
    consts = dict(re.findall(r'constexpr const char\* (k\w+) =\s*R"\((.*?)\)";', text, re.S))
    steps = {name: consts[name] for name in ("kTextOpenedIntoEmptyParagraph", "kInsertHello")}
    for name, step in re.findall(r'\{"([^"]+)",\s*R"\((.*?)\)"\}', text, re.S):
        steps[name] = step
    return consts, steps


def quotes(levels):
    """`levels` blockquotes around an empty paragraph."""
    return '{"type":"blockquote","content":[' * levels + '{"type":"paragraph"}' + "]}" * levels


def deep_nesting_steps(count, levels):
    """hostile_steps.h's deep_nesting_steps."""
    steps = []
    for i in range(count):
        pos = i * levels
        steps.append('{"stepType":"replace","from":%d,"to":%d,"slice":{"content":[%s]}}'
                     % (pos, pos, quotes(levels)))
    return "[" + ",".join(steps) + "]"


# The binary form (docs/protocol.md): tags, LEB128 varints, keys as plain strings.
def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_binary(v):
    if v is None:
        return b"\x00"
    if v is False:
        return b"\x01"
    if v is True:
        return b"\x02"
    if isinstance(v, int) and 0 <= v < 2**53:
        return b"\x03" + varint(v)
    if isinstance(v, int) and -(2**53) < v < 0:
        return b"\x04" + varint(-v - 1)
    if isinstance(v, (int, float)):
        return b"\x05" + struct.pack("<d", float(v))
    if isinstance(v, str):
        data = v.encode("utf-8")
        return b"\x06" + varint(len(data)) + data
    if isinstance(v, list):
        return b"\x08" + varint(len(v)) + b"".join(encode_binary(x) for x in v)
    out = b"\x09" + varint(len(v))
    for key, value in v.items():
        data = key.encode("utf-8")
        out += varint(len(data) << 1) + data + encode_binary(value)
    return out


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    consts, steps = hostile()
    empty_doc = consts["kEmptyParagraphDoc"]
    hello_doc = consts["kHelloDoc"]
    deep = deep_nesting_steps(2, 490)
    deep_ok = deep_nesting_steps(2, 127)
    finding1 = [s for n, s in steps.items() if n not in ("kInsertHello",)]

    def steps_msg(steps_json, version=0):
        return ('{"type":"steps","room":"r","version":%d,"steps":%s,"userId":"u","timestamp":1}'
                % (version, steps_json))

    # json_parse: documents, messages, and nesting at the edges.
    write("json_parse", "doc", hello_doc)
    write("json_parse", "steps_deep", steps_msg(deep))
    write("json_parse", "scalars", '[null,true,false,0,-0,1e400,-1.5e-7,"\\ud800\\u00e9x",{}]')
    write("json_parse", "nested", "[" * 999 + "]" * 999)
    write("json_parse", "duplicate_keys", '{"a":1,"b":2,"a":3,"10":4,"2":5}')

    # binary_codec: binary messages, and JSON (which the target also encodes).
    join = {"type": "join", "room": "r", "userId": "u", "version": 3, "timestamp": 1}
    write("binary_codec", "join.bin", encode_binary(join))
    write("binary_codec", "numbers.bin",
          encode_binary([0, 1, -1, 2**53 - 1, -(2**53) + 1, 1.5, -0.25, "é", None, True]))
    write("binary_codec", "steps.bin", encode_binary(json.loads(steps_msg("[" + finding1[0] + "]"))))
    write("binary_codec", "steps.json", steps_msg("[" + finding1[1] + "]"))

    # client_message: first byte even = JSON text, odd = binary.
    for i, step in enumerate(finding1):
        write("client_message", "finding1_%d.json" % i, b"\x00" + steps_msg("[" + step + "]").encode())
        write("client_message", "finding1_%d.bin" % i,
              b"\x01" + encode_binary(json.loads(steps_msg("[" + step + "]"))))
    write("client_message", "finding2.json", b"\x00" + steps_msg(deep).encode())
    write("client_message", "join.json", b"\x00" + json.dumps(join).encode())
    write("client_message", "presence.bin", b"\x01" + encode_binary(
        {"type": "presence", "room": "r", "users": {"u": {"cursor": {"pos": 2147483647}}}}))
    write("client_message", "leave.json", b'\x00{"type":"leave","room":"r","userId":"u"}')

    # server_message: byte 0 even = JSON, odd = binary; byte 1 picks basic (even) or tiptap.
    state = ('{"type":"state","room":"r","version":0,"doc":%s,"users":{"u":{}},"timestamp":1}'
             % hello_doc)
    write("server_message", "state.json", b"\x00\x00" + state.encode())
    write("server_message", "state.bin", b"\x01\x00" + encode_binary(json.loads(state)))
    write("server_message", "state_steps.json", b"\x00\x00" + (
        '{"type":"state","room":"r","version":2,"steps":[%s],"userIds":["a"],"users":{},'
        '"timestamp":1}' % steps["kInsertHello"]).encode())
    for i, step in enumerate(finding1):
        write("server_message", "finding1_%d.json" % i,
              b"\x00\x00" + ('{"type":"steps","room":"r","version":0,"steps":[%s],"userId":"m",'
                             '"timestamp":1}' % step).encode())
    write("server_message", "finding2.json", b"\x00\x00" + (
        '{"type":"steps","room":"r","version":0,"steps":%s,"userId":"m","timestamp":1}' % deep).encode())
    write("server_message", "error.json", b"\x00\x01" + (
        '{"type":"error","code":"invalid_steps","message":"step 0: x","room":"r","index":0,'
        '"timestamp":1}').encode())

    # schema_spec: first byte even = a content expression, odd = a whole spec.
    for i, expr in enumerate(["paragraph+", "(paragraph | quote)* rule?", "paragraph{2,3} quote{1,}",
                              "inline*", "text* image?", "block+", "(paragraph{0,3}){1,2}",
                              "((((paragraph))))", "paragraph*?+"]):
        write("schema_spec", "expr_%d" % i, b"\x00" + expr.encode())
    with open(os.path.join(ROOT, "rtpm", "server", "builtin_schemas.cc")) as f:
        for name, spec in re.findall(r'name == "(\w+)"\)\s*return R"SPEC\((.*?)\)SPEC"', f.read(), re.S):
            write("schema_spec", "spec_" + name, b"\x01" + spec.encode())
    write("schema_spec", "spec_cyclic",
          b'\x01{"nodes":[["doc",{"content":"a"}],["a",{"content":"b"}],["b",{"content":"a"}],'
          b'["text",{}]]}')

    # model_json: byte 0 = schema (bit 0) and kind (bits 1-2: node, slice, mark, step).
    write("model_json", "node_hello", b"\x00" + hello_doc.encode())
    write("model_json", "node_deep", b"\x00" + ('{"type":"doc","content":[%s]}' % quotes(300)).encode())
    write("model_json", "node_at_the_bound",
          b"\x00" + ('{"type":"doc","content":[%s]}' % quotes(254)).encode())
    write("model_json", "slice_open", b"\x02" + b'{"content":[{"type":"paragraph","content":'
          b'[{"type":"text","text":"a","marks":[{"type":"em"}]}]}],"openStart":1,"openEnd":1}')
    write("model_json", "mark_link", b"\x04" + b'{"type":"link","attrs":{"href":"x"}}')
    write("model_json", "mark_tiptap", b"\x05" + b'{"type":"bold"}')
    for i, step in enumerate(finding1):
        write("model_json", "finding1_%d" % i, b"\x06" + step.encode())
    write("model_json", "finding2", b"\x06" + json.dumps(json.loads(deep)[0]).encode())

    # step_apply: literal JSON seeds ({"schema", "doc", "steps"}), then generator bytes.
    def literal(doc, steps_json, schema="basic"):
        return '{"schema":"%s","doc":%s,"steps":%s}' % (schema, doc, steps_json)

    write("step_apply", "finding1_fresh_room",
          literal(empty_doc, "[" + steps["kTextOpenedIntoEmptyParagraph"] + "]"))
    for i, (name, step) in enumerate(n_s for n_s in steps.items()
                                     if n_s[0] not in ("kInsertHello", "kTextOpenedIntoEmptyParagraph")):
        write("step_apply", "finding1_%d" % i, literal(hello_doc, "[" + step + "]"))
    write("step_apply", "finding2", literal(empty_doc, deep))
    write("step_apply", "finding2_at_the_bound", literal(empty_doc, deep_ok))
    write("step_apply", "marks_and_attrs", literal(hello_doc, json.dumps([
        {"stepType": "addMark", "mark": {"type": "em"}, "from": 1, "to": 4},
        {"stepType": "removeMark", "mark": {"type": "em"}, "from": 2, "to": 3},
        {"stepType": "replaceAround", "from": 0, "to": 7, "gapFrom": 1, "gapTo": 6, "insert": 1,
         "slice": {"content": [{"type": "heading", "attrs": {"level": 2}}]}, "structure": True},
        {"stepType": "attr", "pos": 0, "attr": "level", "value": 3},
        {"stepType": "addNodeMark", "pos": 0, "mark": {"type": "em"}},
        {"stepType": "docAttr", "attr": "x", "value": 1}])))
    for i in range(8):
        write("step_apply", "generator_%d" % i, bytes((i * 37 + k * 11) % 256 for k in range(64 + 16 * i)))

    # room: bytes read by FuzzedDataProvider (numbers from the end, strings from the front):
    # event sequences of joins, steps, presence, store answers. A few byte patterns of different
    # lengths, and a client steps message and join as text at the front for the "client JSON" event.
    for i in range(6):
        write("room", "events_%d" % i, bytes((i * 53 + k * 29 + (k >> 3)) % 256 for k in range(96 + 64 * i)))
    write("room", "client_json", json.dumps(join).encode() + b"\\" + steps_msg("[" + steps["kInsertHello"] + "]").encode()
          + bytes(range(0, 256, 3)))


if __name__ == "__main__":
    main()
