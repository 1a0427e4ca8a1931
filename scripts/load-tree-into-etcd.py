#!/usr/bin/env python3
"""Stores every configuration item of a bundle-layout tree in etcd, at the key the etcd
layout file gives it (value = the file's exact bytes), through etcd's v3 JSON gateway,
and reads each back to compare. For fixtures and the demo only: it writes blindly, with
no guard and no plan; production imports go through `dh-migrate apply`.

Usage: load-tree-into-etcd.py CLIENT_URL TREE_DIR LAYOUT_FILE
"""
import base64, json, os, re, sys, urllib.request

url, bundle, layout_path = sys.argv[1:4]

def parse_layout(text):
    """Reads the small subset of YAML the layout file uses: `prefix:` and a list of
    items with `bundle:` and `key:` patterns."""
    prefix, items, cur = None, [], None
    for line in text.splitlines():
        line = line.split(" #", 1)[0].rstrip()
        m = re.match(r"^prefix:\s*(\S+)$", line)
        if m:
            prefix = m.group(1)
            continue
        m = re.match(r"^\s*(-\s+)?(kind|bundle|key):\s*(\S+)$", line)
        if m:
            if m.group(1):
                cur = {}
                items.append(cur)
            cur[m.group(2)] = m.group(3)
    if prefix is None or not items:
        sys.exit(f"{layout_path}: no prefix or no items found")
    return prefix, items

def pattern_regex(pattern):
    out, names = "", []
    for part in re.split(r"(\{[a-z_]+\})", pattern):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            if name in names:
                out += f"(?P={name})"
            else:
                names.append(name)
                out += f"(?P<{name}>[^/]+?)"
        else:
            out += re.escape(part)
    return re.compile("^" + out + "$")

def post(path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())

def b64(b):
    return base64.b64encode(b).decode()

prefix, items = parse_layout(open(layout_path).read())
compiled = [(it["kind"], pattern_regex(it["bundle"]), it["key"]) for it in items]

files = []
for root, _dirs, names in os.walk(bundle):
    for n in names:
        files.append(os.path.relpath(os.path.join(root, n), bundle).replace(os.sep, "/"))

puts = {}
for rel in sorted(files):
    for kind, rx, key_pattern in compiled:
        m = rx.match(rel)
        if m:
            key = prefix + key_pattern.format(**m.groupdict())
            if key in puts:
                sys.exit(f"two files map to {key}: {puts[key]} and {rel}")
            puts[key] = rel
            break

for key, rel in sorted(puts.items()):
    with open(os.path.join(bundle, rel), "rb") as f:
        value = f.read()
    post("/v3/kv/put", {"key": b64(key.encode()), "value": b64(value)})
    got = post("/v3/kv/range", {"key": b64(key.encode())})
    kvs = got.get("kvs", [])
    if len(kvs) != 1 or base64.b64decode(kvs[0].get("value", "")) != value:
        sys.exit(f"read-back mismatch for {key}")
    print(f"  {key}  <-  {rel}")
print(f"{len(puts)} config items stored")
