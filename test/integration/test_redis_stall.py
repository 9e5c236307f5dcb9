"""A Redis that stops answering delays only the requests that need it.

Global rate limits ask Redis through each worker's own pipelined client, with the request
suspended (proxy/server/rate_limit_filter.cc). With Redis frozen by SIGSTOP, a request on
a globally limited route waits at most --redis-timeout and gets the failure mode (503 when
the policy fails closed), while requests on other routes of the SAME worker keep their
normal latency. A blocking client would stall them for the whole timeout.
"""
import concurrent.futures
import os
import signal
import statistics
import threading
import time

import requests

from configs import tagged
from helpers import apiroute, dump

REDIS_TIMEOUT_S = 1.0


def timed_get(session, url):
    t0 = time.monotonic()
    r = session.get(url, timeout=10)
    return r.status_code, time.monotonic() - t0


def summary(latencies):
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"n={len(ordered)} p50={statistics.median(ordered) * 1000:.1f}ms p99={p99 * 1000:.1f}ms " \
           f"max={ordered[-1] * 1000:.1f}ms"


def test_stopped_redis_delays_only_requests_that_need_it(backends, portico_factory, redis_server):
    a = backends["a"].url
    cfg = dump(apiroute("stall", [
        tagged("limited", a, "/limited", rateLimit={"requests": 100000, "period": "1s", "mode": "Global",
                                                    "failureMode": "Closed"}),
        tagged("plain", a, "/plain"),
    ]))
    # One worker: both routes are served by the same thread.
    p = portico_factory(cfg, extra_args=["--workers", "1", "--redis-address", f"127.0.0.1:{redis_server['port']}",
                                         "--redis-timeout", f"{int(REDIS_TIMEOUT_S * 1000)}ms"])
    limited, plain = requests.Session(), requests.Session()
    assert limited.get(p.url + "/limited", timeout=5).status_code == 200  # Redis answers
    baseline = [timed_get(plain, p.url + "/plain")[1] for _ in range(50)]

    stop = threading.Event()
    plain_during = []

    def plain_load():
        s = requests.Session()
        while not stop.is_set():
            status, seconds = timed_get(s, p.url + "/plain")
            assert status == 200
            plain_during.append(seconds)

    os.kill(redis_server["proc"].pid, signal.SIGSTOP)
    try:
        with concurrent.futures.ThreadPoolExecutor(5) as pool:
            load = pool.submit(plain_load)
            # Several limited requests at once, each suspended on the frozen Redis.
            limited_results = list(pool.map(lambda _: timed_get(requests.Session(), p.url + "/limited"), range(4)))
            time.sleep(0.2)
            stop.set()
            load.result()
    finally:
        os.kill(redis_server["proc"].pid, signal.SIGCONT)

    print(f"\nplain before the stall: {summary(baseline)}")
    print(f"plain during the stall: {summary(plain_during)}")
    print("limited during the stall: " + ", ".join(f"{s}/{t * 1000:.0f}ms" for s, t in limited_results))
    for status, seconds in limited_results:
        assert status == 503  # fails closed: the store is unavailable
        assert seconds < REDIS_TIMEOUT_S + 1.0
    # The other route never waited for Redis: not one request took anywhere near the
    # timeout (a blocking client would have held each for up to a second).
    assert len(plain_during) >= 10
    assert max(plain_during) < REDIS_TIMEOUT_S / 2, summary(plain_during)

    # Redis back: after the limiter's back-off (500 ms), limited requests pass again.
    deadline = time.monotonic() + 10
    while limited.get(p.url + "/limited", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "global limit did not recover after SIGCONT"
        time.sleep(0.1)
