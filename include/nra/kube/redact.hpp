// Credentials never reach the log, even when an API server (or a credential
// plugin) echoes them back: every kube log line goes through klog, which
// redacts the secrets in use and anything shaped like one.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "nra/base/log.hpp"

namespace nra::kube {

inline constexpr std::string_view kRedacted = "[REDACTED]";

// Remembers a secret to redact from now on: bearer tokens (static, token
// file, exec plugin). Strings shorter than 6 bytes are ignored (redacting
// them would mangle ordinary text; the patterns below still apply). The 16
// most recent are kept, so rotated tokens stay covered for a while without
// unbounded growth.
void register_secret(std::string_view secret);
// Registers every base64 line (16+ characters) of the client's PEM private
// key, replacing the previous key's lines.
void register_key_pem(std::string_view pem);
// Forgets every registered secret (tests).
void clear_secrets();

// `text` with every registered secret replaced by [REDACTED], plus the
// generic patterns: "Bearer <credential>" (any case) and JWT-shaped strings ("eyJ….…[.…]", service-account and
// OIDC tokens).
std::string redact(std::string_view text);

// log::write with the message and every string field redacted.
namespace klog {
void write(log::Level l, std::string_view msg, std::initializer_list<log::Field> fields = {});
inline void error(std::string_view m, std::initializer_list<log::Field> f = {}) {
    klog::write(log::Level::Error, m, f);
}
inline void warn(std::string_view m, std::initializer_list<log::Field> f = {}) { klog::write(log::Level::Warn, m, f); }
inline void info(std::string_view m, std::initializer_list<log::Field> f = {}) { klog::write(log::Level::Info, m, f); }
inline void verbose(std::string_view m, std::initializer_list<log::Field> f = {}) {
    klog::write(log::Level::Verbose, m, f);
}
inline void debug(std::string_view m, std::initializer_list<log::Field> f = {}) {
    klog::write(log::Level::Debug, m, f);
}
}  // namespace klog

}  // namespace nra::kube
