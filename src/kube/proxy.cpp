#include "nra/kube/proxy.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstring>
#include <optional>
#include <vector>

#include "nra/kube/redact.hpp"

namespace nra::kube {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

std::string base64(std::string_view in) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        out += tbl[(v >> 18) & 63];
        out += tbl[(v >> 12) & 63];
        out += tbl[(v >> 6) & 63];
        out += tbl[v & 63];
    }
    if (i + 1 == in.size()) {
        const unsigned v = static_cast<unsigned char>(in[i]) << 16;
        out += tbl[(v >> 18) & 63];
        out += tbl[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
        out += tbl[(v >> 18) & 63];
        out += tbl[(v >> 12) & 63];
        out += tbl[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
            !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
            return std::nullopt;
        out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
    }
    return out;
}

// An IP as 16 bytes (IPv4 mapped into IPv6, as Go's net.IP compares them).
std::optional<std::array<unsigned char, 16>> parse_ip(std::string_view text) {
    std::array<unsigned char, 16> ip{};
    const std::string s(text);
    unsigned char v4[4];
    if (::inet_pton(AF_INET, s.c_str(), v4) == 1) {
        ip[10] = ip[11] = 0xff;
        std::memcpy(ip.data() + 12, v4, 4);
        return ip;
    }
    if (::inet_pton(AF_INET6, s.c_str(), ip.data()) == 1) return ip;
    return std::nullopt;
}

bool is_v4(const std::array<unsigned char, 16>& ip) {
    static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(ip.data(), prefix, 12) == 0;
}

bool is_loopback(const std::array<unsigned char, 16>& ip) {
    if (is_v4(ip)) return ip[12] == 127;
    static const std::array<unsigned char, 16> one = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return ip == one;
}

// "a.b.c.d/n" or "v6/n": network and prefix length in the 16-byte form.
bool cidr_contains(std::string_view cidr, const std::array<unsigned char, 16>& ip) {
    const auto slash = cidr.find('/');
    if (slash == std::string_view::npos) return false;
    auto net = parse_ip(cidr.substr(0, slash));
    if (!net) return false;
    int len = -1;
    const auto bits = cidr.substr(slash + 1);
    auto [p, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), len);
    if (ec != std::errc() || p != bits.data() + bits.size()) return false;
    const bool v4 = cidr.substr(0, slash).find(':') == std::string_view::npos;
    if (len < 0 || len > (v4 ? 32 : 128)) return false;
    if (v4) {
        if (!is_v4(ip)) return false;
        len += 96;
    }
    for (int i = 0; i < len; ++i) {
        const int byte = i / 8, bit = 7 - i % 8;
        if (((ip[byte] >> bit) & 1) != (((*net)[byte] >> bit) & 1)) return false;
    }
    return true;
}

bool is_cidr(std::string_view s) {
    const auto slash = s.find('/');
    return slash != std::string_view::npos && parse_ip(s.substr(0, slash)).has_value();
}

// Go's net.SplitHostPort for NO_PROXY entries: "host:port", "[v6]:port".
bool split_host_port(std::string_view s, std::string_view& host, std::string_view& port) {
    if (!s.empty() && s.front() == '[') {
        const auto close = s.find(']');
        if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
        host = s.substr(1, close - 1);
        port = s.substr(close + 2);
        return true;
    }
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos || s.find(':') != colon) return false;  // none, or a bare IPv6
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    return true;
}

}  // namespace

std::string parse_proxy_url(std::string_view text, ApiConfig::Proxy& out) {
    std::string_view s = trim(text);
    if (s.empty()) return "empty proxy URL";
    std::string scheme = "http";
    if (const auto sep = s.find("://"); sep != std::string_view::npos) {
        scheme = lower(s.substr(0, sep));
        s.remove_prefix(sep + 3);
    }
    if (scheme == "https")
        return "https:// proxies are not supported (use an http:// proxy: the API server's TLS runs through its "
               "CONNECT tunnel)";
    if (scheme == "socks5" || scheme == "socks5h") return "SOCKS proxies are not supported (use an http:// proxy)";
    if (scheme != "http") return "unsupported proxy scheme '" + scheme + "' (use http://)";
    // authority = everything up to the first '/', '?' or '#'
    s = s.substr(0, std::min(s.find_first_of("/?#"), s.size()));
    std::string user, password;
    bool has_password = false;
    if (const auto at = s.rfind('@'); at != std::string_view::npos) {
        const std::string_view info = s.substr(0, at);
        s.remove_prefix(at + 1);
        const auto colon = info.find(':');
        auto u = percent_decode(info.substr(0, colon));
        if (!u) return "invalid percent-encoding in the proxy user name";
        user = *u;
        if (colon != std::string_view::npos) {
            auto p = percent_decode(info.substr(colon + 1));
            if (!p) return "invalid percent-encoding in the proxy password";
            password = *p;
            has_password = true;
        }
    }
    std::string_view host = s, port;
    if (!s.empty() && s.front() == '[') {
        const auto close = s.find(']');
        if (close == std::string_view::npos) return "proxy host '" + std::string(s) + "': missing ']'";
        host = s.substr(1, close - 1);
        const auto rest = s.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return "proxy host '" + std::string(s) + "': junk after ']'";
            port = rest.substr(1);
        }
    } else if (const auto colon = s.rfind(':'); colon != std::string_view::npos) {
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
    }
    if (host.empty()) return "proxy URL without a host";
    for (char c : host) {
        if (std::isspace(static_cast<unsigned char>(c)) || c == '@' || c == '[' || c == ']')
            return "proxy host '" + std::string(host) + "' is not a host name or IP";
    }
    out.host = std::string(host);
    out.port = 80;
    if (!port.empty()) {
        unsigned v = 0;
        auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
        if (ec != std::errc() || p != port.data() + port.size() || v == 0 || v > 65535)
            return "proxy port '" + std::string(port) + "' is not 1..65535";
        out.port = static_cast<std::uint16_t>(v);
    }
    out.authorization.clear();
    if (!user.empty() || has_password) {
        out.authorization = "Basic " + base64(user + ":" + password);
        register_secret(out.authorization.substr(6));
        if (!password.empty()) register_secret(password);
    }
    const bool v6 = out.host.find(':') != std::string::npos;
    out.display = "http://" +
                  (user.empty() && !has_password ? std::string() : user + (has_password ? ":***" : "") + "@") +
                  (v6 ? "[" + out.host + "]" : out.host) + ":" + std::to_string(out.port);
    return "";
}

bool use_proxy(std::string_view no_proxy, std::string_view host_in, std::uint16_t port) {
    const std::string host = lower(trim(host_in));
    if (host.empty()) return true;
    if (host == "localhost") return false;
    const auto ip = parse_ip(host);
    if (ip && is_loopback(*ip)) return false;
    const std::string port_text = std::to_string(port);
    std::string_view list = no_proxy;
    while (!list.empty()) {
        const auto comma = list.find(',');
        const std::string entry = lower(trim(list.substr(0, comma)));
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        if (entry.empty()) continue;
        if (entry == "*") return false;
        if (is_cidr(entry)) {
            if (ip && cidr_contains(entry, *ip)) return false;
            continue;
        }
        std::string_view phost = entry, pport;
        if (!split_host_port(entry, phost, pport)) {
            phost = entry;
            pport = {};
        }
        if (phost.empty()) continue;  // ":80": malformed, ignored as Go does
        if (!pport.empty() && pport != port_text) {
            // an entry for another port never matches (checked before the host: same result)
            continue;
        }
        if (auto pip = parse_ip(phost)) {
            if (ip && *pip == *ip) return false;
            continue;
        }
        // domain.com matches itself and its subdomains; .domain.com and
        // *.domain.com only the subdomains (Go also tests IP hosts against these).
        std::string suffix(phost);
        if (suffix.rfind("*.", 0) == 0) suffix.erase(0, 1);
        const bool match_host = suffix.front() != '.';
        if (match_host) suffix.insert(suffix.begin(), '.');
        const bool ends =
            host.size() >= suffix.size() && host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0;
        if (ends || (match_host && host == suffix.substr(1))) return false;
    }
    return true;
}

std::string apply_proxy_env(ApiConfig& cfg, const Env& env) {
    auto any = [&](const char* upper, const char* lowercase) -> std::pair<std::string, std::string> {
        for (const char* name : {upper, lowercase}) {
            if (auto v = env.getenv(name); v && !v->empty()) return {name, *v};
        }
        return {};
    };
    const auto [name, value] = cfg.tls ? any("HTTPS_PROXY", "https_proxy") : any("HTTP_PROXY", "http_proxy");
    if (value.empty()) return "";
    const auto no_proxy = any("NO_PROXY", "no_proxy").second;
    if (!use_proxy(no_proxy, cfg.host, cfg.port)) return "";
    ApiConfig::Proxy p;
    if (auto err = parse_proxy_url(value, p); !err.empty()) return name + ": " + err;
    p.origin = name;
    cfg.proxy = std::move(p);
    return "";
}

std::string build_connect(const ApiConfig& cfg, std::string_view user_agent) {
    const bool v6 = cfg.host.find(':') != std::string::npos;
    const std::string target = (v6 ? "[" + cfg.host + "]" : cfg.host) + ":" + std::to_string(cfg.port);
    std::string r = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
    r.append("User-Agent: ").append(user_agent).append("\r\n");
    if (cfg.proxy && !cfg.proxy->authorization.empty())
        r.append("Proxy-Authorization: ").append(cfg.proxy->authorization).append("\r\n");
    r += "\r\n";
    return r;
}

int parse_connect_status(std::string_view head, std::string& reason) {
    const auto eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') return 0;
    int code = 0;
    auto [p, ec] = std::from_chars(line.data() + 9, line.data() + 12, code);
    if (ec != std::errc() || p != line.data() + 12 || code < 100) return 0;
    if (line.size() > 12 && line[12] != ' ') return 0;
    reason = std::string(trim(line.substr(12)));
    return code;
}

}  // namespace nra::kube
