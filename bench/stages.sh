#!/usr/bin/env bash
# Instructions per request for each stage of the request path, counted by callgrind: where
# the CPU of a small keep-alive GET goes, so the next change can see which stage it moved.
#   bench/stages.sh [PORTICO_BIN]      (default build/portico)
#   env: N requests measured (default 2000), ACCESS_LOG=true|false (default true, as in
#        production), KEEP=1 keeps the callgrind dump and prints its path.
# Same setup as bench/instructions.sh: one worker under valgrind --tool=callgrind in front of
# nginx (`return 200 "ok"`), 200 warm-up requests, counters zeroed, N keep-alive GETs on one
# connection, then one dump. Each row is the inclusive Ir of the functions named, divided
# by N. User-space instructions only: the kernel's share (syscalls, TCP) is not in it. A
# benchmark, not a test.
#
# Reading the table. The stages are C++20 coroutines on Asio 1.74's awaitable: a coroutine's
# body is resumed from Asio's pump, not from its caller, so a coroutine's row is its own
# code plus the plain functions it calls (and the frames of the coroutines it creates),
# NOT the coroutines it co_awaits: those are rows of their own. I/O completions and Beast's
# composed read/write operations run from the event loop; with the scheduler they are the
# "rest" row (total minus the top-level rows), which includes parsing the upstream's
# response (Beast reads it in its composed op). Indented rows are parts of the row above
# them, not additions.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$repo/build/portico}
N=${N:-2000}
ACCESS_LOG=${ACCESS_LOG:-true}
dir=$(mktemp -d)
up=$((20000 + RANDOM % 10000))
source "$repo/bench/callgrind_common.sh"
callgrind_backend
callgrind_count "$bin" "$ACCESS_LOG" stages
out="$dir/cg.out"
dump=$(ls "$out".* 2>/dev/null | head -1)
[[ -n $dump ]] || { echo "stages: no callgrind dump (see $dir/vg.log)" >&2; exit 1; }
[[ -n ${KEEP:-} ]] && echo "dump: $dump" >&2

# Inclusive cost per function straight from the dump: self cost plus the cost of its calls
# to other functions. That is what callgrind_annotate --inclusive=yes shows too, but it lists
# a function once per source file its inlined code came from (and again under the caller's
# spelling of the path), so its rows cannot be summed into a stage without counting some
# code two or three times.
python3 - "$dump" "$N" "$ACCESS_LOG" <<'PY'
import re, subprocess, sys
from collections import defaultdict
path, n, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
names, self_cost, calls = {}, defaultdict(int), defaultdict(lambda: defaultdict(int))
total = 0
fn = cfn = None
pending_call = False
def ref(value):  # "(id) name" or "(id)" (name compression) or a plain name
    m = re.match(r"\((\d+)\)\s*(.*)$", value)
    if not m:
        names.setdefault(value, value)
        return value
    if m.group(2):
        names[m.group(1)] = m.group(2)
    return m.group(1)
for line in open(path, errors="replace"):
    line = line.rstrip("\n")
    if not line:
        continue
    c = line[0]
    if c.isdigit() or c in "+-*":
        parts = line.split()
        cost = int(parts[1]) if len(parts) > 1 else 0
        if pending_call:
            calls[fn][cfn] += cost
            pending_call = False
        else:
            self_cost[fn] += cost
    elif line.startswith("fn="):
        fn = ref(line[3:])
    elif line.startswith("cfn="):
        cfn = ref(line[4:])
    elif line.startswith("calls="):
        pending_call = True
        if cfn is None:
            cfn = fn
    elif line.startswith(("summary:", "totals:")):
        total = max(total, int(line.split()[1]))
    if line.startswith(("fn=", "fl=", "fi=", "fe=")):
        cfn = None if line.startswith("fn=") else cfn
if not total:
    total = sum(self_cost.values())

# Readable names: c++filt what is still mangled (template coroutines' actors), keep the raw
# name too, so patterns can match either.
raw = {k: v for k, v in names.items()}
mangled = [v for v in raw.values() if v.startswith("_Z")]
demangled = dict(zip(mangled, subprocess.run(["c++filt"], input="\n".join(mangled), capture_output=True,
                                             text=True).stdout.split("\n"))) if mangled else {}
label = {k: v + " " + demangled.get(v, "") for k, v in raw.items()}

def inclusive(ids):
    """Cost of the set: self costs plus calls leaving the set."""
    ids = set(ids)
    return sum(self_cost[i] + sum(cost for callee, cost in calls[i].items() if callee not in ids) for i in ids)

P = r"portico::proxy::"
def coro(name):  # a coroutine: its ramp, body ([clone .actor] or .Frame.actor) and destroy
    return rf"^(?:{P}{name}\(|_ZN7portico5proxy(?:\d+[A-Za-z_]+)*?\d+{name.split('::')[-1]}E.*\.Frame\.)"
def plain(name):
    return rf"^{P}{name}\b(?!.*\[clone \.(?:actor|destroy)\])"
rows = [  # (label, depth, patterns, top level: disjoint from the other top-level rows)
    ("connection loop: serveAwake/waitWhileBusy/serveOne", 0,
     [coro("ClientConnection::run"), rf"^(?:{P}\(anonymous namespace\)::serveAwake\(|_ZN7portico5proxy"
                                       r"(?:\d+[A-Za-z_]+)*?\d+serveAwakeE.*\.Frame\.)",
      coro("ClientConnection::waitWhileBusy"), coro("ClientConnection::serveOne")], True),
    ("finish: access log line + metrics", 1, [plain("ClientConnection::finish")], False),
    ("logAccess (format, append)", 2, [plain("logAccess")], False),
    ("Metrics::recordResponse", 2, [plain("Metrics::recordResponse")], False),
    ("header read: readRequestHeader", 0, [coro("ClientConnection::readRequestHeader")], True),
    ("request parse: basic_parser<true>::put", 1, [r"^boost::beast::http::basic_parser<true>::put"], False),
    ("serveRequest", 0, [coro("serveRequest")], True),
    ("admitRequest", 1, [plain(r"http1::admitRequest")], False),
    ("RouteTable::match", 1, [plain("RouteTable::match")], False),
    ("forwarding plan: planForwarding", 1, [plain(r"http1::planForwarding")], False),
    ("filter chain: FilterChain (+ suspended filters)", 1,
     [plain("FilterChain::"), plain("FilterContext::"), coro("FilterContext::suspended"), coro("runFilters")], False),
    ("balancer: RouteBalancer::pick", 1, [plain("RouteBalancer::pick")], False),
    ("forwardUpstream (w/o relayResponse)", 0,
     [coro("forwardUpstream"), r"^_ZN7portico5proxy12relayMessage.*15forwardUpstream.*\.Frame\."], True),
    ("request head: write/endRequestHead", 1,
     [plain(r"http1::writeRequestHead"), plain(r"http1::endRequestHead")], False),
    ("relayResponse (+relayMessage, readPiece)", 0,
     [coro("relayResponse"), r"^_ZN7portico5proxy12relayMessage.*13relayResponse.*\.Frame\.",
      r"^_ZN7portico5proxy12relay_detail9readPiece.*\.Frame\."], True),
    ("response head: write/endResponseHead", 1,
     [plain(r"http1::writeResponseHead"), plain(r"http1::endResponseHead")], False),
    ("access log writer thread: LineWriter::run", 0, [plain("LineWriter::run")], True),
]
print(f"Ir per request (inclusive), {n} keep-alive GETs, 1 worker, access log {log}")
print(f"{'stage':<50} {'Ir/req':>8} {'share':>6}")
top = 0
for text, depth, patterns, is_top in rows:
    ids = [k for k, v in raw.items() if any(re.search(p, v) for p in patterns)]
    ir = inclusive(ids)
    if is_top:
        top += ir
    note = "" if ids else "  (not found)"
    if ids and ir == 0:
        note = "  (not run)"
    print(f"{'  ' * depth + text:<50} {ir / n:>8.0f} {100.0 * ir / total:>5.1f}%{note}")
rest = total - top
print(f"{'rest: event loop, epoll, completions, Beast ops':<50} {rest / n:>8.0f} {100.0 * rest / total:>5.1f}%")
resp = [k for k, v in raw.items() if re.search(r"^boost::beast::http::basic_parser<false>::put", v)]
print(f"{'  response parse: basic_parser<false>::put':<50} {inclusive(resp) / n:>8.0f} "
      f"{100.0 * inclusive(resp) / total:>5.1f}%")
print(f"{'whole process (user space)':<50} {total / n:>8.0f} {100.0:>5.1f}%")
PY
