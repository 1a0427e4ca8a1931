#!/usr/bin/env python3
"""Stores every configuration item of a bundle-layout tree in etcd, where the etcd layout
file puts it, through etcd's v3 JSON gateway, and reads each key back to compare. For
fixtures and the demo only: it writes blindly, with no guard and no plan; production
imports go through `dh-migrate apply`.

Layout version 1: one key per item (value = the file's exact bytes).

Layout version 2 (Deephaven's atomic directories): each item is a directory holding
  <dir>/<file>               the file's exact bytes
  <dir>/<name>               the file name (its last path segment)
  <dir>/<meta>/created       \
  <dir>/<meta>/updated        } the meta subtree Deephaven keeps (fixed invented values:
  <dir>/<meta>/guard         /  FIXTURE_TIME in epoch milliseconds, and guard "1")
with the part spellings from the layout's `parts:`. A `scan` item (PQs, keyed by a serial
number Deephaven assigns) gets invented serials: FIRST_SERIAL, FIRST_SERIAL + 1, ... in
the bytewise order of the items' bundle paths, so a tree always loads to the same keys.

Usage: load-tree-into-etcd.py CLIENT_URL TREE_DIR LAYOUT_FILE

Also imported by scripts/gen-synthetic.py (layout_puts, put_many), hence the functions.
"""
import base64, json, os, re, sys, urllib.request


# Invented, deterministic values for what Deephaven itself would write (see above).
FIRST_SERIAL = 1700000000000000001
FIXTURE_TIME = "1714629600000"  # 2024-05-02T06:00:00Z
GUARD = "1"


def parse_layout(text, layout_path="layout"):
    """Reads the small subset of YAML the layout files use: `version:`, `prefix:`,
    `parts:` (version 2) and a list of items with `kind:`, `bundle:` and `key:` (version
    1) or `dir:`/`scan:` (version 2) patterns."""
    version, prefix, items, cur, in_parts = 1, None, [], None, False
    parts = {"file": "file", "name": "name", "meta": "meta", "guard": "guard"}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].rstrip()
        if not line or line.lstrip().startswith("#"):
            continue
        m = re.match(r"^(version|prefix):\s*(\S+)$", line)
        if m:
            if m.group(1) == "version":
                version = int(m.group(2))
            else:
                prefix = m.group(2)
            in_parts = False
            continue
        if re.match(r"^(parts|items):\s*$", line):
            in_parts = line.startswith("parts")
            continue
        m = re.match(r"^\s+(file|name|meta|guard):\s*(\S+)$", line)
        if in_parts and m:
            parts[m.group(1)] = m.group(2)
            continue
        m = re.match(r"^\s*(-\s+)?(kind|bundle|key|dir|scan):\s*(\S+)$", line)
        if m:
            if m.group(1):
                cur = {}
                items.append(cur)
            cur[m.group(2)] = m.group(3)
    if prefix is None or not items:
        sys.exit(f"{layout_path}: no prefix or no items found")
    if version not in (1, 2):
        sys.exit(f"{layout_path}: unknown layout version {version}")
    return version, prefix, parts, items


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


def layout_puts(tree, layout_path):
    """{etcd key: (value bytes, bundle path)} for every file of `tree` the layout holds,
    and how many items that is (see the module doc for the keys of a version 2 item)."""
    with open(layout_path) as f:
        version, prefix, parts, items = parse_layout(f.read(), layout_path)
    compiled = [(it, pattern_regex(it["bundle"])) for it in items]
    files = []
    for root, _dirs, names in os.walk(tree):
        for n in names:
            files.append(os.path.relpath(os.path.join(root, n), tree).replace(os.sep, "/"))
    puts = {}
    serials = {}  # scan root -> next serial
    count = 0

    def put(key, value, rel):
        if key in puts:
            sys.exit(f"two files map to {key}: {puts[key][1]} and {rel}")
        puts[key] = (value, rel)

    for rel in sorted(files):
        for it, rx in compiled:
            m = rx.match(rel)
            if not m:
                continue
            with open(os.path.join(tree, rel), "rb") as f:
                value = f.read()
            count += 1
            if version == 1:
                put(prefix + it["key"].format(**m.groupdict()), value, rel)
                break
            if "scan" in it:
                root = it["scan"].rstrip("/")
                serial = serials.get(root, FIRST_SERIAL)
                serials[root] = serial + 1
                directory = f"{prefix}{root}/{serial}"
            else:
                directory = prefix + it["dir"].rstrip("/").format(**m.groupdict())
            put(f"{directory}/{parts['file']}", value, rel)
            put(f"{directory}/{parts['name']}", rel.rsplit("/", 1)[-1].encode(), rel)
            meta = f"{directory}/{parts['meta']}"
            put(f"{meta}/created", FIXTURE_TIME.encode(), rel)
            put(f"{meta}/updated", FIXTURE_TIME.encode(), rel)
            put(f"{meta}/{parts['guard']}", GUARD.encode(), rel)
            break
    return puts, count


def main():
    url, bundle, layout_path = sys.argv[1:4]
    puts, count = layout_puts(bundle, layout_path)
    for key, (value, rel) in sorted(puts.items()):
        post(url, "/v3/kv/put", {"key": b64(key.encode()), "value": b64(value)})
        got = post(url, "/v3/kv/range", {"key": b64(key.encode())})
        kvs = got.get("kvs", [])
        if len(kvs) != 1 or base64.b64decode(kvs[0].get("value", "")) != value:
            sys.exit(f"read-back mismatch for {key}")
        print(f"  {key}  <-  {rel}")
    print(f"{count} config items stored ({len(puts)} keys)")


if __name__ == "__main__":
    main()
