"""Shared line protocol of logd's compat drivers (see compat/external_test.go)."""
import json
import sys
import threading
import time


def hexornull(b):
    if b is None:
        return "-"
    if len(b) == 0:
        return "_"
    return bytes(b).hex()


def hdrs(headers):
    if not headers:
        return "-"
    out = []
    for k, v in headers:
        if isinstance(k, str):
            k = k.encode()
        if isinstance(v, str):
            v = v.encode()
        out.append(k.hex() + ":" + hexornull(v))
    return ",".join(out)


def rec_line(p, off, ts, key, val, headers):
    return "REC %d %d %d %s %s %s" % (p, off, ts, hexornull(key), hexornull(val), hdrs(headers))


def read_input():
    out = []
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        d = json.loads(line)
        k = None if d.get("k") is None else bytes.fromhex(d["k"])
        v = None if d.get("v") is None else bytes.fromhex(d["v"])
        h = [(a, bytes.fromhex(b)) for a, b in (d.get("h") or [])]
        out.append((d.get("p", -1), k, v, h, d.get("ts", 0)))
    return out


def emit(s):
    sys.stdout.write(s + "\n")
    sys.stdout.flush()


def log(s):
    sys.stderr.write(time.strftime("%H:%M:%S ") + s + "\n")
    sys.stderr.flush()


def parts_string(parts):
    return ",".join(str(p) for p in sorted(parts)) if parts else "-"


def stop_signal():
    """Events (stop, hold): stop is set when stdin says "stop" or ends (group members leave
    cleanly then); hold when it says "nocommit" (members keep consuming, commit nothing more)."""
    stop, hold = threading.Event(), threading.Event()

    def watch():
        for line in sys.stdin:
            if line.strip() == "stop":
                break
            if line.strip() == "nocommit":
                hold.set()
                emit("HOLDING")
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    return stop, hold
