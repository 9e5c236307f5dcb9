#!/usr/bin/env python3
"""Layer 4 side by side: Portico's TCP route, nginx's stream proxy and HAProxy in mode tcp,
each with ONE worker pinned to the same core, in front of one redis-server, driven by
redis-benchmark (the load and the upstream share the other core).

Scenarios:
  ka     50 connections, GET, one command per round trip (small packets both ways)
  pipe   50 connections, GET, 16 commands pipelined (more bytes per read)
  big    10 connections, SET and GET of 64 KiB values (bulk bytes)
  conn   50 clients reconnecting for every command (connection setup and teardown)

Prints per scenario and proxy: requests/s, p99 (ms), the proxy's CPU microseconds per
request (utime+stime of its process over the run) and eff/ngx = nginx's us/req over the
proxy's (above 1: cheaper than nginx). Medians of -r rounds. A benchmark, not a test: it
asserts nothing. Needs redis-server, redis-benchmark, nginx with libnginx-mod-stream,
haproxy and taskset (scripts/install-deps.sh)."""
import argparse
import csv
import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PROXY_CPU, LOAD_CPU = "1", "0"
TICK = os.sysconf("SC_CLK_TCK")

SCENARIOS = {
    "ka": ["-c", "50", "-t", "get", "-n", "300000"],
    "pipe": ["-c", "50", "-t", "get", "-P", "16", "-n", "2000000"],
    "big": ["-c", "10", "-t", "set,get", "-d", "65536", "-n", "20000"],
    "conn": ["-c", "50", "-t", "get", "-k", "0", "-n", "10000"],  # more would run out of ports in TIME_WAIT
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_ticks(pid):
    """utime+stime of pid and its children processes (nginx's worker is a child)."""
    total = 0
    pids = [pid]
    try:
        pids += [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def start_pinned(args, log):
    return subprocess.Popen(["taskset", "-c", PROXY_CPU, *args], stdout=log, stderr=subprocess.STDOUT)


def portico(work, port, upstream):
    cfg = os.path.join(work, "portico.yaml")
    with open(cfg, "w") as f:
        f.write("apiVersion: portico.dev/v1alpha1\nkind: APIRoute\nmetadata: {name: bench, namespace: default}\n"
                f"spec:\n  tcp:\n    port: {port}\n    backends: [{{url: \"tcp://127.0.0.1:{upstream}\"}}]\n")
    binary = os.environ.get("PORTICO_BIN", os.path.join(REPO, "build", "portico"))
    return [binary, "--config", cfg, "--listen-address", "127.0.0.1", "--http-port", str(free_port()),
            "--https-port", "0", "--admin-port", str(free_port()), "--tcp-ports", str(port), "--workers", "1",
            "--access-log", "false"]


def nginx(work, port, upstream):
    cfg = os.path.join(work, "nginx.conf")
    with open(cfg, "w") as f:
        f.write(f"load_module /usr/lib/nginx/modules/ngx_stream_module.so;\nworker_processes 1;\ndaemon off;\n"
                f"pid {work}/nginx.pid;\nerror_log {work}/nginx.err;\nevents {{ worker_connections 8192; }}\n"
                f"stream {{ server {{ listen 127.0.0.1:{port}; proxy_pass 127.0.0.1:{upstream}; }} }}\n")
    return ["nginx", "-c", cfg, "-p", work]


def haproxy(work, port, upstream):
    cfg = os.path.join(work, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(f"global\n  nbthread 1\n  maxconn 8000\ndefaults\n  mode tcp\n  timeout connect 5s\n"
                f"  timeout client 1h\n  timeout server 1h\nfrontend f\n  bind 127.0.0.1:{port}\n  default_backend b\n"
                f"backend b\n  server r 127.0.0.1:{upstream}\n")
    return ["haproxy", "-f", cfg, "-db"]


PROXIES = {"portico": portico, "nginx": nginx, "haproxy": haproxy}


def run_benchmark(port, scenario):
    out = subprocess.run(["taskset", "-c", LOAD_CPU, "redis-benchmark", "-p", str(port), "--csv", *SCENARIOS[scenario]],
                         capture_output=True, text=True, timeout=120).stdout
    rows = [r for r in csv.reader(io.StringIO(out)) if r and r[0] != "test"]
    requests = sum(float(r[1]) for r in rows) / len(rows)  # rps averaged over the commands
    p99 = max(float(r[6]) for r in rows)
    return requests, p99


def total_requests(scenario):
    args = SCENARIOS[scenario]
    n = int(args[args.index("-n") + 1])
    commands = len(args[args.index("-t") + 1].split(","))
    return n * commands


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-r", "--rounds", type=int, default=3)
    ap.add_argument("-s", "--scenarios", default=" ".join(SCENARIOS))
    ap.add_argument("-p", "--proxies", default=" ".join(PROXIES))
    args = ap.parse_args()
    for tool in ("redis-server", "redis-benchmark", "taskset", "nginx", "haproxy"):
        if not shutil.which(tool):
            sys.exit(f"l4: {tool} missing (scripts/install-deps.sh)")
    work = tempfile.mkdtemp(prefix="portico-l4-")
    upstream = free_port()
    redis = subprocess.Popen(["taskset", "-c", LOAD_CPU, "redis-server", "--port", str(upstream), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", work], stdout=subprocess.DEVNULL)
    results = {}  # (scenario, proxy) -> list of (rps, p99, us/req)
    try:
        wait_port(upstream)
        for _ in range(args.rounds):
            for scenario in args.scenarios.split():
                for name in args.proxies.split():
                    port = free_port()
                    log = open(os.path.join(work, f"{name}.log"), "ab")
                    proc = start_pinned(PROXIES[name](work, port, upstream), log)
                    try:
                        wait_port(port)
                        before = cpu_ticks(proc.pid)
                        rps, p99 = run_benchmark(port, scenario)
                        used = cpu_ticks(proc.pid) - before
                        us = used / TICK * 1e6 / total_requests(scenario)
                        results.setdefault((scenario, name), []).append((rps, p99, us))
                    finally:
                        proc.send_signal(signal.SIGTERM if name != "nginx" else signal.SIGQUIT)
                        try:
                            proc.wait(10)
                        except subprocess.TimeoutExpired:
                            proc.kill()
                            proc.wait()
                        log.close()
    finally:
        redis.terminate()
        redis.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'scenario':8} {'proxy':8} {'req/s':>10} {'p99 ms':>7} {'us/req':>7} {'eff/ngx':>7}   (medians of {args.rounds})")
    for scenario in args.scenarios.split():
        med = {name: tuple(statistics.median(x[i] for x in results[(scenario, name)]) for i in range(3))
               for name in args.proxies.split()}
        for name, (rps, p99, us) in med.items():
            eff = med["nginx"][2] / us if "nginx" in med and us else float("nan")
            print(f"{scenario:8} {name:8} {rps:10.0f} {p99:7.3f} {us:7.2f} {eff:7.2f}")


if __name__ == "__main__":
    main()
