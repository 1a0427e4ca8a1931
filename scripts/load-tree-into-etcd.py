#!/usr/bin/env python3
"""Stores every configuration item of a bundle-layout tree in etcd, at the key the etcd
layout file gives it (value = the file's exact bytes), through etcd's v3 JSON gateway,
and reads each back to compare. For fixtures, the demo and benchmark data only: it writes
blindly, with no guard and no plan; production imports go through `dh-migrate apply`.

Usage: load-tree-into-etcd.py CLIENT_URL TREE_DIR LAYOUT_FILE

Also imported by scripts/gen-synthetic.py (layout_puts, put_many), hence the functions.
"""
import base64, json, os, re, sys, urllib.request


def parse_layout(text, layout_path="layout"):
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


def layout_puts(tree, layout_path):
    """{etcd key: path relative to tree} for every file of tree the layout maps to a key."""
    with open(layout_path) as f:
        prefix, items = parse_layout(f.read(), layout_path)
    compiled = [(it["kind"], pattern_regex(it["bundle"]), it["key"]) for it in items]
    files = []
    for root, _dirs, names in os.walk(tree):
        for n in names:
            files.append(os.path.relpath(os.path.join(root, n), tree).replace(os.sep, "/"))
    puts = {}
    for rel in sorted(files):
        for _kind, rx, key_pattern in compiled:
            m = rx.match(rel)
            if m:
                key = prefix + key_pattern.format(**m.groupdict())
                if key in puts:
                    sys.exit(f"two files map to {key}: {puts[key]} and {rel}")
                puts[key] = rel
                break
    return puts


def post(url, path, body, timeout=10):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def b64(b):
    return base64.b64encode(b).decode()


def put_many(url, kvs, timeout=120):
    """Puts [(key bytes, value bytes)] in one transaction (etcd's --max-txn-ops and
    --max-request-bytes must allow it)."""
    ops = [{"requestPut": {"key": b64(k), "value": b64(v)}} for k, v in kvs]
    got = post(url, "/v3/kv/txn", {"success": ops}, timeout=timeout)
    if not got.get("succeeded"):
        sys.exit(f"transaction of {len(kvs)} puts failed: {got}")


def main():
    url, bundle, layout_path = sys.argv[1:4]
    puts = layout_puts(bundle, layout_path)
    for key, rel in sorted(puts.items()):
        with open(os.path.join(bundle, rel), "rb") as f:
            value = f.read()
        post(url, "/v3/kv/put", {"key": b64(key.encode()), "value": b64(value)})
        got = post(url, "/v3/kv/range", {"key": b64(key.encode())})
        kvs = got.get("kvs", [])
        if len(kvs) != 1 or base64.b64decode(kvs[0].get("value", "")) != value:
            sys.exit(f"read-back mismatch for {key}")
        print(f"  {key}  <-  {rel}")
    print(f"{len(puts)} config items stored")


if __name__ == "__main__":
    main()
