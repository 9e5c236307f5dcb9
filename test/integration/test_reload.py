"""Standalone file reload: new tables go live once the file has settled; invalid, empty,
cut or unreadable files keep the last good table, say why in the log and are counted."""
import os
import re
import time

from configs import tagged
from helpers import Portico, apiroute, dump, raw_exchange, wait_until

SETTLE_S = 0.2
# A short settle interval and poll keep the suite fast; the rule is the same as at 1s.
FAST = ["--config-settle", f"{int(SETTLE_S * 1000)}ms", "--config-poll-interval", "50ms"]


def get_status(p, path, headers=None):
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return raw_exchange(p.http_port, f"GET {path} HTTP/1.1\r\nHost: h\r\n{extra}\r\n".encode(),
                        check_close=False)


def write_in_place(path, text):
    """Truncates the file and writes it, no rename: what `cat > file` does, and what a
    writer that dies half way leaves behind."""
    with open(path, "w") as f:
        f.write(text)


def wait_errors(p, n, what):
    wait_until(lambda: p.metric("portico_config_reload_errors_total") == n, 10, what=what)


def assert_serves(p, expected):
    """expected: path -> backend name; real requests through portico."""
    for path, name in expected.items():
        r = get_status(p, path)
        assert r.status == 200 and r.json()["name"] == name, (path, r)


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
    p = portico_factory(one_route(backends), extra_args=FAST)
    assert p.version() == 1
    assert get_status(p, "/two").status == 404
    p.rewrite_config(two_routes(backends))
    assert p.wait_for_version(2) == 2
    r = get_status(p, "/two")
    assert r.status == 200 and r.json()["name"] == "b"
    assert get_status(p, "/one").status == 200
    assert p.metric("portico_config_reloads_total") == 1
    assert p.routes()["version"] == 2
    # Rewriting the same bytes is no change: after it has had time to settle (several
    # settle intervals), the next real change is version 3, not 4.
    p.rewrite_config(two_routes(backends))
    time.sleep(SETTLE_S * 4)
    assert p.version() == 2
    p.rewrite_config(one_route(backends))
    assert p.wait_for_version(3) == 3
    assert p.version() == 3 and p.metric("portico_config_reloads_total") == 2
    assert get_status(p, "/two").status == 404


def test_invalid_file_keeps_last_good_table(backends, portico_factory):
    p = portico_factory(one_route(backends), extra_args=FAST)
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


def three_routes(backends):
    return dump(apiroute("app", [tagged("one", backends["a"].url, "/one"),
                                 tagged("two", backends["b"].url, "/two"),
                                 tagged("three", backends["c"].url, "/three")]))


def wait_live_after_settle(p, version, written_at):
    """Waits for `version` and checks it went live no sooner than the settle interval after
    the write ended (the watcher cannot have seen the whole file before then)."""
    p.wait_for_version(version)
    assert time.monotonic() - written_at >= SETTLE_S


def test_empty_no_documents_and_directory_never_go_live(backends, portico_factory):
    p = portico_factory(two_routes(backends), extra_args=FAST)
    good = p.version()
    serving = {"/one": "a", "/two": "b"}
    assert_serves(p, serving)

    def replace_by_directory():
        os.remove(p.config_path)
        os.mkdir(p.config_path)

    cases = [
        ("an empty file", lambda: write_in_place(p.config_path, ""),
         f"{p.config_path}: no documents"),
        ("a file with no documents", lambda: write_in_place(p.config_path, "# moved to routes.yaml\n---\n...\n"),
         f"{p.config_path}: no documents"),
        ("a directory", replace_by_directory,
         f"{p.config_path}: cannot read: is a directory, not a file"),
    ]
    for errors, (what, change, why) in enumerate(cases, 1):
        change()
        wait_errors(p, errors, what)
        assert p.version() == good, what
        assert_serves(p, serving)
        log = p.stderr()
        assert why in log, log[-3000:]
        assert log.count(why) == (2 if errors == 2 else 1), log[-3000:]  # once per version
        assert f"keeping table version {good}" in log
    assert p.metric("portico_config_reloads_total") == 0

    # A good file in place of the directory goes live once settled.
    os.rmdir(p.config_path)
    write_in_place(p.config_path, three_routes(backends))
    wait_live_after_settle(p, good + 1, time.monotonic())
    assert_serves(p, {"/one": "a", "/two": "b", "/three": "c"})


def secured_config(backends, key="a-long-secret-key"):
    """An open rule, a rule behind an API key, the key's Secret last, and the end marker.
    Written by hand so that the cuts below fall where they are meant to."""
    return f"""apiVersion: portico.dev/v1alpha1
kind: APIRoute
metadata: {{name: app}}
spec:
  rules:
    - name: open
      match: {{path: {{type: Prefix, value: /one}}}}
      backends: [{{url: "{backends["a"].url}"}}]
    - name: admin
      match: {{path: {{type: Prefix, value: /admin}}}}
      backends: [{{url: "{backends["b"].url}"}}]
      auth:
        apiKey: {{header: X-Api-Key, secretName: keys}}
---
apiVersion: v1
kind: Secret
metadata: {{name: keys}}
stringData:
  alice: {key}
# portico:end
"""


def test_cut_in_place_write_never_becomes_a_weaker_policy(backends, portico_factory):
    full = secured_config(backends)
    p = portico_factory(full, extra_args=FAST)
    good = p.version()

    def assert_policy(key):
        assert get_status(p, "/admin").status == 401
        assert get_status(p, "/admin", {"X-Api-Key": key[:4]}).status == 401
        r = get_status(p, "/admin", {"X-Api-Key": key})
        assert r.status == 200 and r.json()["name"] == "b", r
        assert_serves(p, {"/one": "a"})

    assert_policy("a-long-secret-key")
    assert "end marker required from now on" in p.stderr()

    # Each cut parses and renders (the unit tests show it): a shorter key, a rule without
    # its auth block. Without the marker they would go live; with it they are refused.
    cuts = [
        ("cut in the middle of the Secret value", full[:full.index("a-long-secret-key") + 4] + "\n"),
        ("cut in the middle of the rule, before its auth", full[:full.index("      auth:")]),
        ("cut inside the marker line", full[:-len("end\n")]),
    ]
    for errors, (what, text) in enumerate(cuts, 1):
        write_in_place(p.config_path, text)
        wait_errors(p, errors, what)
        assert p.version() == good, what
        assert_policy("a-long-secret-key")
        log = p.stderr()
        assert log.count(f'{p.config_path}: does not end with the line "# portico:end"') == errors, log[-3000:]
        assert "an earlier version of the file did" in log

    # The whole new file, written in place, goes live once settled.
    write_in_place(p.config_path, secured_config(backends, key="rotated-secret-key"))
    wait_live_after_settle(p, good + 1, time.monotonic())
    assert_policy("rotated-secret-key")
    assert get_status(p, "/admin", {"X-Api-Key": "a-long-secret-key"}).status == 401


def test_first_load_of_an_empty_file_exits_nonzero(tmp_path):
    p = Portico("", str(tmp_path), wait_ready=False)
    code = p.wait_exit(15)
    p.stop()
    assert code != 0
    assert f"{p.config_path}: no documents" in p.stderr(), p.stderr()
