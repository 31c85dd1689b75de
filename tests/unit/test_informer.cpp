// The informer against a tiny in-process API server: a plain-HTTP loopback
// listener on the informer's own event loop that answers lists and streams
// watch events as chunked JSON lines. No root, no network beyond 127.0.0.1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "nra/base/fd.hpp"
#include "nra/base/loop.hpp"
#include "nra/kube/client.hpp"
#include "nra/kube/config.hpp"
#include "nra/kube/informer.hpp"

using namespace nra;
using namespace nra::kube;
using namespace std::chrono_literals;

namespace {

// One request the fake received: the connection it came on and its target.
struct Request {
    int conn;  // the fake's number for the connection (never reused, unlike fds)
    std::string target;
    bool watch() const { return target.find("watch=1") != std::string::npos; }
};

// The query of a target as a map ("a=1&b=2" -> {a:1, b:2}); values as sent.
std::map<std::string, std::string> query_of(const std::string& target) {
    std::map<std::string, std::string> q;
    const auto qm = target.find('?');
    if (qm == std::string::npos) return q;
    std::size_t pos = qm + 1;
    while (pos <= target.size()) {
        auto amp = target.find('&', pos);
        if (amp == std::string::npos) amp = target.size();
        const std::string kv = target.substr(pos, amp - pos);
        const auto eq = kv.find('=');
        if (eq == std::string::npos) {
            q[kv] = "";
        } else {
            q[kv.substr(0, eq)] = kv.substr(eq + 1);
        }
        pos = amp + 1;
    }
    return q;
}

std::string path_of(const std::string& target) { return target.substr(0, target.find('?')); }

// A fake API server: accepts connections, splits them into GET requests
// (no bodies), and lets the test answer each one from on_request.
class FakeApi {
public:
    explicit FakeApi(EventLoop& loop) : loop_(loop) {
        listen_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        REQUIRE(listen_);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        REQUIRE(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(listen_.get(), 16) == 0);
        socklen_t len = sizeof a;
        REQUIRE(::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port_ = ntohs(a.sin_port);
        loop_.add(listen_.get(), EPOLLIN, [this](std::uint32_t) { accept_all(); });
    }

    ~FakeApi() {
        for (auto& [id, c] : conns_) loop_.remove(c.fd.get());
        loop_.remove(listen_.get());
    }

    FakeApi(const FakeApi&) = delete;
    FakeApi& operator=(const FakeApi&) = delete;

    ApiConfig config() const {
        ApiConfig c;
        REQUIRE(parse_server_url("http://127.0.0.1:" + std::to_string(port_), c).empty());
        c.source = "unit test";
        return c;
    }

    // A whole JSON reply (keep-alive, Content-Length).
    void reply(int conn, int status, const std::string& body) {
        const char* reason = status == 200 ? "OK" : status == 410 ? "Gone" : "Error";
        put(conn, "HTTP/1.1 " + std::to_string(status) + " " + reason +
                      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\n\r\n" + body);
    }
    // The head of a watch: 200, chunked; events follow with event().
    void start_stream(int conn) {
        put(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    }
    // One watch line in its own chunk.
    void event(int conn, const std::string& line) {
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", line.size() + 1);
        put(conn, std::string(size) + line + "\n\r\n");
    }
    // The last chunk: the watch ended normally (its timeoutSeconds).
    void end_stream(int conn) { put(conn, "0\r\n\r\n"); }

    bool is_open(int conn) const { return conns_.count(conn) != 0; }

    std::vector<Request> requests;  // every request, in arrival order
    std::function<void(const Request&)> on_request;
    int accepted = 0;

private:
    void put(int conn, const std::string& bytes) {
        if (!is_open(conn)) return;  // the client already closed it
        // Loopback with small payloads: the socket buffer takes it at once.
        const ssize_t n = ::send(conns_.at(conn).fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
        CHECK(n == static_cast<ssize_t>(bytes.size()));
    }

    void accept_all() {
        for (;;) {
            const int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) return;
            const int id = ++accepted;
            conns_[id].fd.reset(fd);
            loop_.add(fd, EPOLLIN, [this, id](std::uint32_t) { readable(id); });
        }
    }

    void readable(int id) {
        const int fd = conns_.at(id).fd.get();
        char buf[4096];
        for (;;) {
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                conns_.at(id).in.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            if (n < 0 && errno == EINTR) continue;
            // EOF or reset: the client closed the connection.
            loop_.remove(fd);
            conns_.erase(id);
            return;
        }
        auto& in = conns_.at(id).in;
        for (auto end = in.find("\r\n\r\n"); end != std::string::npos; end = in.find("\r\n\r\n")) {
            const std::string head = in.substr(0, end);
            in.erase(0, end + 4);
            const auto sp1 = head.find(' ');
            const auto sp2 = head.find(' ', sp1 + 1);
            REQUIRE(sp1 != std::string::npos);
            REQUIRE(sp2 != std::string::npos);
            CHECK(head.substr(0, sp1) == "GET");
            requests.push_back({id, head.substr(sp1 + 1, sp2 - sp1 - 1)});
            const Request r = requests.back();
            if (on_request) on_request(r);
            if (!is_open(id)) return;
        }
    }

    struct Conn {
        Fd fd;
        std::string in;
    };

    EventLoop& loop_;
    Fd listen_;
    std::uint16_t port_ = 0;
    std::map<int, Conn> conns_;
};

const std::string kPath = "/api/v1/namespaces/ns/configmaps";

std::string configmap(const std::string& name, const std::string& rv, const std::string& config) {
    return R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":")" + name +
           R"(","namespace":"ns","resourceVersion":")" + rv + R"("},"data":{"config":")" + config + R"("}})";
}

std::string list(const std::string& rv, const std::vector<std::string>& items, const std::string& cont = "") {
    std::string s = R"({"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":")" + rv + "\"";
    if (!cont.empty()) s += R"(,"continue":")" + cont + "\"";
    s += R"(},"items":[)";
    for (std::size_t i = 0; i < items.size(); ++i) s += (i ? "," : "") + items[i];
    return s + "]}";
}

std::string event(const std::string& type, const std::string& object) {
    return R"({"type":")" + type + R"(","object":)" + object + "}";
}

std::string bookmark(const std::string& rv) {
    return event("BOOKMARK", R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":")" + rv +
                                 R"(","annotations":{"k8s.io/initial-events-end":"true"}}})");
}

const std::string kExpired = R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
                             R"("message":"too old resource version: 100 [250]","reason":"Expired","code":410})";

// The config of a cached ConfigMap, "<absent>" when the key is not cached.
std::string config_of(const Informer& inf, const std::string& key) {
    auto it = inf.items().find(key);
    if (it == inf.items().end()) return "<absent>";
    const auto* cm = std::get_if<ConfigMapInfo>(&it->second);
    REQUIRE(cm);
    return cm->config;
}

// One informer of ConfigMaps in namespace "ns", its client, the fake server
// and a guard that stops a test that would hang.
struct Harness {
    EventLoop loop;
    FakeApi api{loop};
    ApiClient client{loop, api.config()};
    int changes = 0;
    std::function<void()> on_change;  // extra work in the change callback
    Informer inf;
    bool timed_out = false;

    explicit Harness(Informer::Spec spec)
        : inf(loop, client, std::move(spec), [this] {
              ++changes;
              if (on_change) on_change();
          }) {
        std::signal(SIGPIPE, SIG_IGN);
    }

    // Runs until a handler stops the loop (the guard fails the test), or for
    // `guard` when `for_the_whole_guard`.
    void run(std::chrono::milliseconds guard = 5s, bool for_the_whole_guard = false) {
        const auto t = loop.after(guard, [this] {
            timed_out = true;
            loop.stop();
        });
        inf.start();
        loop.run();
        loop.cancel(t);
        if (!for_the_whole_guard) REQUIRE_FALSE(timed_out);
    }
};

Informer::Spec spec(std::string selector = "", bool watch = true) {
    return {"configmaps ns", kPath, std::move(selector), Kind::ConfigMap, watch};
}

}  // namespace

TEST_CASE("informer: lists, then watches from the list's resourceVersion") {
    Harness h(spec("metadata.name=config"));
    h.inf.watch_min = 10s;
    h.inf.watch_max = 20s;
    int changes_at_watch = -1;
    bool synced_at_watch = false;
    h.api.on_request = [&](const Request& r) {
        if (!r.watch()) return h.api.reply(r.conn, 200, list("100", {configmap("config", "90", "one")}));
        changes_at_watch = h.changes;
        synced_at_watch = h.inf.synced();
        h.api.start_stream(r.conn);
        h.loop.stop();
    };
    CHECK_FALSE(h.inf.synced());
    h.run();

    REQUIRE(h.api.requests.size() == 2);
    const Request& l = h.api.requests[0];
    const Request& w = h.api.requests[1];
    CHECK(path_of(l.target) == kPath);
    auto lq = query_of(l.target);
    CHECK(lq["limit"] == "500");
    CHECK(lq["fieldSelector"] == "metadata.name%3Dconfig");
    CHECK(lq.count("watch") == 0);
    CHECK(lq.count("continue") == 0);

    CHECK(path_of(w.target) == kPath);
    auto wq = query_of(w.target);
    CHECK(wq["watch"] == "1");
    CHECK(wq["resourceVersion"] == "100");  // the list's, not the item's 90
    CHECK(wq["allowWatchBookmarks"] == "true");
    CHECK(wq["fieldSelector"] == "metadata.name%3Dconfig");
    const int timeout = std::stoi(wq["timeoutSeconds"]);
    CHECK(timeout >= 10);
    CHECK(timeout < 20);
    CHECK(w.conn != l.conn);  // a watch has its own connection

    // The cache was filled and the callback called before the watch began.
    CHECK(synced_at_watch);
    CHECK(changes_at_watch == 1);
    CHECK(h.inf.synced());
    CHECK(h.inf.items().size() == 1);
    CHECK(config_of(h.inf, "ns/config") == "one");
}

TEST_CASE("informer: watch events update the cache and call the change callback") {
    Harness h(spec());
    std::vector<int> seen;  // changes after each step
    h.api.on_request = [&](const Request& r) {
        if (!r.watch()) return h.api.reply(r.conn, 200, list("100", {configmap("a", "100", "one")}));
        const auto watches =
            std::count_if(h.api.requests.begin(), h.api.requests.end(), [](const Request& x) { return x.watch(); });
        if (watches == 1) {
            h.api.start_stream(r.conn);
            h.api.event(r.conn, event("ADDED", configmap("b", "101", "bee")));
            h.api.event(r.conn, event("MODIFIED", configmap("a", "102", "two")));
            // A MODIFIED that changes nothing the agent reads (a ConfigMap's
            // config) is not a change.
            h.api.event(r.conn, event("MODIFIED", configmap("a", "103", "two")));
            h.api.event(r.conn, event("DELETED", configmap("b", "104", "bee")));
            h.api.end_stream(r.conn);
            return;
        }
        // The watch ended normally: it resumes from the last event's RV.
        CHECK(query_of(r.target)["resourceVersion"] == "104");
        h.api.start_stream(r.conn);
        h.loop.stop();
    };
    h.run();

    CHECK(h.changes == 4);  // list, ADDED b, MODIFIED a, DELETED b
    REQUIRE(h.inf.items().size() == 1);
    CHECK(config_of(h.inf, "ns/a") == "two");
    CHECK(config_of(h.inf, "ns/b") == "<absent>");
    // No relist: one list, two watches.
    REQUIRE(h.api.requests.size() == 3);
    CHECK_FALSE(h.api.requests[0].watch());
    CHECK(h.api.requests[1].watch());
    CHECK(h.api.requests[2].watch());
}

TEST_CASE("informer: the change callback sees the event already in the cache") {
    Harness h(spec());
    std::vector<std::string> seen;  // config of ns/a at each callback
    h.on_change = [&] {
        seen.push_back(config_of(h.inf, "ns/a"));
        if (seen.size() == 2) h.loop.stop();
    };
    h.api.on_request = [&](const Request& r) {
        if (!r.watch()) return h.api.reply(r.conn, 200, list("100", {}));
        h.api.start_stream(r.conn);
        h.api.event(r.conn, event("ADDED", configmap("a", "101", "one")));
    };
    h.run();
    // The first (empty) list is reported too: the informer is synced.
    CHECK(seen == std::vector<std::string>{"<absent>", "one"});
}

TEST_CASE("informer: a BOOKMARK advances the resourceVersion without a change") {
    Harness h(spec());
    h.api.on_request = [&](const Request& r) {
        if (!r.watch()) return h.api.reply(r.conn, 200, list("100", {configmap("a", "100", "one")}));
        if (query_of(r.target)["resourceVersion"] == "100") {
            h.api.start_stream(r.conn);
            h.api.event(r.conn, bookmark("250"));
            h.api.end_stream(r.conn);
            return;
        }
        CHECK(query_of(r.target)["resourceVersion"] == "250");
        h.api.start_stream(r.conn);
        h.loop.stop();
    };
    h.run();

    CHECK(h.changes == 1);  // the list only
    CHECK(h.inf.items().size() == 1);
    CHECK(config_of(h.inf, "ns/a") == "one");
    REQUIRE(h.api.requests.size() == 3);
    CHECK(query_of(h.api.requests[2].target)["resourceVersion"] == "250");
}

TEST_CASE("informer: a 410 ERROR event makes it relist at once") {
    Harness h(spec());
    int lists = 0;
    int watch1 = -1;
    EventLoop::Clock::time_point error_sent{};
    EventLoop::Clock::duration relist_after{};
    h.api.on_request = [&](const Request& r) {
        if (!r.watch()) {
            if (++lists == 1)
                return h.api.reply(r.conn, 200,
                                   list("100", {configmap("a", "100", "one"), configmap("b", "100", "bee")}));
            relist_after = EventLoop::Clock::now() - error_sent;
            // a changed, b gone while not watching, c new.
            return h.api.reply(r.conn, 200, list("300", {configmap("a", "280", "two"), configmap("c", "290", "sea")}));
        }
        if (watch1 < 0) {
            watch1 = r.conn;
            h.api.start_stream(r.conn);
            error_sent = EventLoop::Clock::now();
            h.api.event(r.conn, event("ERROR", kExpired));
            return;
        }
        CHECK(query_of(r.target)["resourceVersion"] == "300");
        h.api.start_stream(r.conn);
        h.loop.stop();
    };
    h.run();

    CHECK(lists == 2);
    // Relisted without the backoff (its first step is at least 800 ms).
    CHECK(relist_after < 750ms);
    CHECK_FALSE(h.api.is_open(watch1));  // the client closed the expired watch
    CHECK(h.changes == 2);               // first list, relist with differences
    CHECK(h.inf.items().size() == 2);
    CHECK(config_of(h.inf, "ns/a") == "two");
    CHECK(config_of(h.inf, "ns/b") == "<absent>");
    CHECK(config_of(h.inf, "ns/c") == "sea");
}

TEST_CASE("informer: an HTTP 410 reply to the watch makes it relist at once") {
    Harness h(spec());
    int lists = 0;
    int watches = 0;
    h.api.on_request = [&](const Request& r) {
        if (!r.watch()) {
            ++lists;
            return h.api.reply(r.conn, 200,
                               list(lists == 1 ? "100" : "300", {configmap("a", lists == 1 ? "100" : "300", "one")}));
        }
        if (++watches == 1) return h.api.reply(r.conn, 410, kExpired);
        CHECK(query_of(r.target)["resourceVersion"] == "300");
        h.api.start_stream(r.conn);
        h.loop.stop();
    };
    h.run();
    CHECK(lists == 2);
    CHECK(watches == 2);
    CHECK(h.changes == 1);  // the relist found nothing new
    CHECK(config_of(h.inf, "ns/a") == "one");
}

TEST_CASE("informer: a watch that expires again right after the relist waits for the backoff") {
    // A server answering every watch with 410: the first relist is at once,
    // the next ones go through the backoff (a hot list/watch loop before).
    Harness h(spec());
    int lists = 0;
    h.api.on_request = [&](const Request& r) {
        if (!r.watch()) {
            ++lists;
            return h.api.reply(r.conn, 200, list("100", {configmap("a", "100", "one")}));
        }
        h.api.reply(r.conn, 410, kExpired);
    };
    h.run(1500ms, true);
    CHECK(lists >= 2);  // the first relist, at once
    CHECK(lists <= 4);  // then backoff steps (0.8 s and up), not thousands
    CHECK(h.inf.stats().expired >= 2);
}

TEST_CASE("informer: a malformed watch line is a stream error, then a relist after a backoff") {
    Harness h(spec());
    int lists = 0;
    int watch1 = -1;
    EventLoop::Clock::time_point bad_sent{};
    EventLoop::Clock::duration relist_after{};
    h.api.on_request = [&](const Request& r) {
        if (!r.watch()) {
            if (++lists == 2) relist_after = EventLoop::Clock::now() - bad_sent;
            return h.api.reply(r.conn, 200, list(lists == 1 ? "100" : "400", {configmap("a", "100", "one")}));
        }
        if (watch1 < 0) {
            watch1 = r.conn;
            h.api.start_stream(r.conn);
            h.api.event(r.conn, event("ADDED", configmap("b", "101", "bee")));
            bad_sent = EventLoop::Clock::now();
            h.api.event(r.conn, R"({"type":"ADDED","object":{"kind":"ConfigMap",)");  // cut JSON
            // Whatever follows on the broken stream is not applied.
            h.api.event(r.conn, event("ADDED", configmap("c", "102", "sea")));
            return;
        }
        CHECK(query_of(r.target)["resourceVersion"] == "400");
        h.api.start_stream(r.conn);
        h.loop.stop();
    };
    h.run();

    CHECK(lists == 2);
    CHECK(relist_after >= 700ms);  // retried with the backoff, not at once
    CHECK_FALSE(h.api.is_open(watch1));
    // list, ADDED b; the relist drops b again (it is not in the new list).
    CHECK(h.changes == 3);
    CHECK(h.inf.items().size() == 1);
    CHECK(config_of(h.inf, "ns/a") == "one");
    CHECK(config_of(h.inf, "ns/c") == "<absent>");
}

TEST_CASE("informer: a paginated list is applied once, watched from page 1's resourceVersion") {
    Harness h(spec());
    int changes_at_page2 = -1;
    h.api.on_request = [&](const Request& r) {
        if (!r.watch()) {
            auto q = query_of(r.target);
            if (q.count("continue") == 0)
                return h.api.reply(r.conn, 200, list("100", {configmap("a", "90", "one")}, "tok%2B1"));
            CHECK(q["continue"] == "tok%252B1");  // escaped as a query component
            changes_at_page2 = h.changes;
            return h.api.reply(r.conn, 200, list("100", {configmap("b", "95", "bee")}));
        }
        CHECK(query_of(r.target)["resourceVersion"] == "100");
        h.api.start_stream(r.conn);
        h.loop.stop();
    };
    h.run();
    CHECK(changes_at_page2 == 0);  // nothing applied before the last page
    CHECK(h.changes == 1);
    CHECK(h.inf.items().size() == 2);
    REQUIRE(h.api.requests.size() == 3);
}

TEST_CASE("informer: a list-only informer never watches") {
    Harness h(spec("", false));
    h.api.on_request = [&](const Request& r) {
        CHECK_FALSE(r.watch());
        h.api.reply(r.conn, 200, list("100", {configmap("a", "90", "one")}));
    };
    // Give a watch that should not come time to show up.
    h.on_change = [&] { h.loop.after(200ms, [&] { h.loop.stop(); }); };
    h.run();
    CHECK(h.inf.synced());
    CHECK(h.changes == 1);
    CHECK(h.api.requests.size() == 1);
}
