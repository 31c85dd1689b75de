// HTTP/1.1 GETs against the API server on the event loop: keep-alive
// connections (a small idle pool) for lists and GETs, a dedicated connection
// per watch. Adds the path prefix, Host, bearer token; drops the cached token
// after a 401; logs Warning headers. Tokens never reach a log line.
// Nothing here blocks the loop: a host name is resolved by the c-ares
// Resolver (the last good addresses are used while a new lookup is pending or
// failing; a lookup is started when they are older than 30 s or a connection
// to all of them failed), exec credential plugins run as child processes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "nra/kube/config.hpp"
#include "nra/kube/conn.hpp"
#include "nra/kube/http.hpp"
#include "nra/kube/resolve.hpp"

namespace nra {
class EventLoop;
}

namespace nra::kube {

struct Response {
    int status = 0;               // 0: no HTTP response (transport or protocol error)
    std::string error;            // set when status == 0
    bool protocol_error = false;  // the bytes received were not valid HTTP/framing (vs. a cut connection)
    ResponseHead head;
    std::string body;  // whole-mode body (lists, GETs, non-2xx replies)
};

class ApiClient {
public:
    struct Handlers {
        std::function<void(std::string&& line)> on_line;  // streaming (watch) responses with 2xx
        std::function<void(Response)> on_done;            // exactly once, unless cancelled
    };

    class Call;
    using CallPtr = std::shared_ptr<Call>;

    ApiClient(EventLoop& loop, ApiConfig cfg);  // throws std::runtime_error on a bad TLS setup
    ~ApiClient();
    ApiClient(const ApiClient&) = delete;
    ApiClient& operator=(const ApiClient&) = delete;

    const ApiConfig& config() const { return cfg_; }

    // GET prefix+target. stream = a watch (own connection, line events).
    // timeout bounds the whole exchange.
    CallPtr get(const std::string& target, bool stream, std::chrono::milliseconds timeout, Handlers h);
    // Stops a call: no more callbacks; its connection is closed.
    static void cancel(const CallPtr& call);

    // "metallb-nra/<version> (linux/<arch>)", sent with every request.
    static std::string default_user_agent();
    std::string user_agent = default_user_agent();

    // Re-reads the CA and client certificate/key files when one changed
    // (mtime, size, inode) and rebuilds the TLS context; a file that cannot
    // be read or used is logged (once per change) and the last good context
    // kept. Called before each new connection.
    void refresh_tls();

    // The addresses of the API server (cached ones at once, else after a
    // lookup); error set when there are none. Called from the loop or at once.
    using AddressesFn = std::function<void(const std::vector<Address>& addrs, const std::string& error)>;
    void with_addresses(AddressesFn fn);
    const std::vector<Address>& cached_addresses() const { return addrs_; }

private:
    friend class Call;
    void start_lookup();
    void connect_failed();                        // no address of the cache answered
    void park(std::shared_ptr<Connection> conn);  // idle keep-alive pool
    std::shared_ptr<Connection> take_idle();
    void unpark(Connection* conn);

    EventLoop& loop_;
    ApiConfig cfg_;
    std::shared_ptr<const TlsContext> tls_;
    struct FileStamp {
        bool exists = false;
        std::uint64_t ino = 0, size = 0;
        std::int64_t mtime_ns = 0;
        bool operator==(const FileStamp&) const = default;
    };
    static FileStamp stamp(const std::string& path);
    std::vector<FileStamp> tls_stamps_;      // of the files the current context was built from
    std::vector<FileStamp> tls_bad_stamps_;  // the last set found unusable (logged once)
    std::string dial_host_;                  // the API server's, or the proxy's
    std::uint16_t dial_port_ = 0;
    std::unique_ptr<TokenSource> token_;
    std::unique_ptr<Resolver> resolver_;  // only for host names
    std::vector<Address> addrs_;          // last good addresses, in connect order
    std::chrono::steady_clock::time_point resolved_at_{};
    bool addrs_stale_ = false;
    bool lookup_pending_ = false;
    std::vector<AddressesFn> addr_waiters_;
    std::vector<std::shared_ptr<Connection>> idle_;
    std::set<std::string> warnings_;  // Warning headers already logged
    std::shared_ptr<bool> alive_;
};

}  // namespace nra::kube
