// HTTP proxies as client-go uses them: Go's http.ProxyFromEnvironment
// (golang.org/x/net/http/httpproxy) for HTTPS_PROXY / HTTP_PROXY / NO_PROXY,
// and the kubeconfig cluster's proxy-url. Pure functions: the connection
// side (CONNECT) is in conn.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "nra/kube/config.hpp"

namespace nra::kube {

// Parses a proxy URL: "http://[user[:password]@]host[:port]" (port 80 by
// default) or, as Go does, "host[:port]" meaning http://. https:// and
// socks5:// proxies are refused with a clear message. Returns "" on success.
std::string parse_proxy_url(std::string_view text, ApiConfig::Proxy& out);

// Whether a request to host:port goes through the proxy under `no_proxy`
// (Go's rules: never for "localhost" or a loopback IP; "*" matches every
// host; entries are IPs, CIDRs, "domain" (itself and its subdomains),
// ".domain" / "*.domain" (subdomains), each optionally with ":port").
bool use_proxy(std::string_view no_proxy, std::string_view host, std::uint16_t port);

// Sets cfg.proxy from the environment: HTTPS_PROXY / https_proxy for an
// https server, HTTP_PROXY / http_proxy for an http one (upper case first,
// the first non-empty wins), unless NO_PROXY / no_proxy excludes the server.
// Returns "" or what is wrong with the proxy variable (never its password).
std::string apply_proxy_env(ApiConfig& cfg, const Env& env);

// "CONNECT host:port HTTP/1.1" with Host, User-Agent and Proxy-Authorization.
std::string build_connect(const ApiConfig& cfg, std::string_view user_agent);

// The status line of a proxy's reply to CONNECT: its status code, 0 when it
// is not an HTTP/1.x status line; `reason` gets the text after the code.
int parse_connect_status(std::string_view head, std::string& reason);

}  // namespace nra::kube
