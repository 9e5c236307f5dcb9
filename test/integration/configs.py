"""The standalone configurations the tests run portico with."""
from helpers import apiroute, dump, free_port, rule


def tagged(name, url, path=None, path_type="Prefix", **extra):
    """A rule that tells the backend its name in X-Rule, so the echo shows which rule matched."""
    headers = extra.pop("requestHeaders", {})
    headers.setdefault("set", {})["X-Rule"] = name
    return rule(name, url, path, path_type, requestHeaders=headers, **extra)


def main_config(backends):
    a, b, c = backends["a"].url, backends["b"].url, backends["c"].url
    refused = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    catch_all = apiroute("catchall", [
        tagged("echo", a, "/echo"),
        tagged("prec-exact", a, "/prec/item", "Exact"),
        tagged("prec-short", a, "/prec"),
        tagged("prec-long", a, "/prec/item"),
        tagged("prec-regex", a, "/prec/item/[0-9]+", "RegularExpression"),
        tagged("regex", a, "/items/[0-9]+", "RegularExpression"),
        tagged("methods-post", a, "/methods", match={"methods": ["POST", "PUT"]}),
        tagged("hdr-stable", a, "/hdr"),
        tagged("hdr-canary", a, "/hdr", match={"headers": [{"name": "X-Canary", "value": "yes"}]}),
        tagged("hdr-present", a, "/hdr",
               match={"headers": [{"name": "X-Beta", "type": "Present"},
                                  {"name": "X-Version", "type": "RegularExpression",
                                   "value": "v[0-9]+"}]}),
        tagged("q-default", a, "/q"),
        tagged("q-v2", a, "/q", match={"query": [{"name": "v", "value": "2"}]}),
        tagged("rewrite", a, "/rw", rewrite={"pathPrefix": "/v1/inner", "host": "inner.internal"}),
        tagged("edit", a, "/edit",
               requestHeaders={"set": {"X-Env": "prod"}, "add": {"X-Added": "one"},
                               "remove": ["X-Debug"]},
               responseHeaders={"set": {"X-Resp": "yes"}, "add": {"X-Resp-Add": "a"},
                                "remove": ["Server", "X-Backend-Name"]}),
        {"name": "weighted", "match": {"path": {"value": "/weighted"}},
         "backends": [{"url": a, "weight": 3}, {"url": b, "weight": 1}]},
        tagged("stream", a, "/stream"),
        tagged("count", a, "/count"),
        tagged("ws", a, "/ws"),
        tagged("stats", a, "/__stats"),
        tagged("sleep", a, "/sleep"),
        tagged("slow", a, "/slow", rewrite={"pathPrefix": "/sleep"},
               timeouts={"request": "1s"}),
        tagged("refused", refused, "/refused", timeouts={"connect": "1s"}),
        tagged("reset", a, "/reset"),
        tagged("closedelim", a, "/closedelim"),
        tagged("close-after", a, "/close-after"),
        tagged("early-hints", a, "/early-hints"),
        tagged("truncate", a, "/truncate"),
        tagged("limited", a, "/limited", rewrite={"pathPrefix": "/count"},
               limits={"maxRequestBodyBytes": 1024}),
        {"name": "noendpoints", "match": {"path": {"value": "/noendpoints"}},
         "backends": [{"url": c, "weight": 0}]},
    ])
    exact_host = apiroute("exact-host", [tagged("host-exact", b, "/echo")], hosts=["a.example.com"])
    wildcard = apiroute("wildcard-host", [tagged("host-wild", c, "/echo")], hosts=["*.wild.test"])
    return dump(exact_host, wildcard, catch_all)
