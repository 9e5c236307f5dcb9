"""Standalone file reload: new tables go live, invalid files keep the last good table."""
import re
import time

from configs import tagged
from helpers import Portico, apiroute, dump, raw_exchange, wait_until


def get_status(p, path):
    return raw_exchange(p.http_port, f"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode(), check_close=False)


def one_route(backends):
    return dump(apiroute("app", [tagged("one", backends["a"].url, "/one")]))


def two_routes(backends):
    return dump(apiroute("app", [tagged("one", backends["a"].url, "/one"),
                                 tagged("two", backends["b"].url, "/two")]))


def line_of(text, needle):
    """1-based line of the first line containing needle."""
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def test_reload_publishes_new_route(backends, portico_factory):
    p = portico_factory(one_route(backends))
    assert p.version() == 1
    assert get_status(p, "/two").status == 404
    p.rewrite_config(two_routes(backends))
    assert p.wait_for_version(2) == 2
    r = get_status(p, "/two")
    assert r.status == 200 and r.json()["name"] == "b"
    assert get_status(p, "/one").status == 200
    assert p.metric("portico_config_reloads_total") == 1
    assert p.routes()["version"] == 2
    # Rewriting the same bytes is no change.
    p.rewrite_config(two_routes(backends))
    time.sleep(1.2)  # > two poll intervals
    assert p.version() == 2


def test_invalid_file_keeps_last_good_table(backends, portico_factory):
    p = portico_factory(one_route(backends))
    good_version = p.version()

    # 1. A YAML syntax error.
    broken = one_route(backends) + "---\napiVersion: portico.dev/v1alpha1\nkind: APIRoute\nmetadata: {name: x\n"
    p.rewrite_config(broken)
    wait_until(lambda: p.metric("portico_config_reload_errors_total") == 1, 10, what="reload error 1")
    assert p.version() == good_version
    assert get_status(p, "/one").status == 200
    log = p.stderr()
    m = re.search(re.escape(p.config_path) + r":(\d+):(\d+): yaml", log)
    assert m, log[-3000:]
    assert int(m.group(1)) >= line_of(broken, "metadata: {name: x")
    assert "keeping table version 1" in log

    # 2. A TLS secret that does not exist.
    text = dump(apiroute("app", [tagged("one", backends["a"].url, "/one")], hosts=["x.test"],
                         tls={"secretName": "missing-tls"}))
    p.rewrite_config(text)
    wait_until(lambda: p.metric("portico_config_reload_errors_total") == 2, 10, what="reload error 2")
    assert p.version() == good_version
    assert get_status(p, "/one").status == 200
    log = p.stderr()
    expected_line = line_of(text, "secretName: missing-tls")
    m = re.search(re.escape(p.config_path) + r":(\d+): APIRoute default/app spec\.tls\.secretName: ([^\n]*)", log)
    assert m, log[-3000:]
    assert int(m.group(1)) == expected_line
    assert "missing-tls" in m.group(2)

    # 3. A valid file again is published.
    p.rewrite_config(two_routes(backends))
    p.wait_for_version(good_version + 1)
    assert get_status(p, "/two").status == 200
    assert p.metric("portico_config_reload_errors_total") == 2


def test_first_load_invalid_exits_nonzero(tmp_path, backends):
    text = dump(apiroute("app", [{"name": "bad", "match": {"path": {"type": "Sideways", "value": "/x"}},
                                  "backends": [{"url": backends["a"].url}]}]))
    p = Portico(text, str(tmp_path), wait_ready=False)
    code = p.wait_exit(15)
    p.stop()
    assert code != 0
    err = p.stderr()
    line = line_of(text, "type: Sideways")
    assert f"{p.config_path}:{line}: APIRoute default/app spec.rules[0].match.path.type" in err, err
    assert "Sideways" in err


def test_first_load_yaml_error_exits_nonzero(tmp_path):
    p = Portico("kind: [unterminated\n", str(tmp_path), wait_ready=False)
    code = p.wait_exit(15)
    p.stop()
    assert code != 0
    assert re.search(re.escape(p.config_path) + r":\d+:\d+: yaml", p.stderr()), p.stderr()
