#include "nra/kube/redact.hpp"

#include "nra/base/text.hpp"

#include <algorithm>
#include <deque>
#include <vector>

namespace nra::kube {

namespace {

constexpr std::size_t kMinSecret = 6;
constexpr std::size_t kMaxSecrets = 16;

std::deque<std::string>& secrets() {  // tokens, most recent last
    static std::deque<std::string> s;
    return s;
}

std::vector<std::string>& key_lines() {  // of the configured client key (bounded by its size)
    static std::vector<std::string> k;
    return k;
}

bool b64url(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// Characters of an RFC 6750 b64token (and of base64 with padding).
bool token_char(char c) { return b64url(c) || c == '.' || c == '~' || c == '+' || c == '/' || c == '='; }

bool starts_with_ci(std::string_view s, std::size_t at, std::string_view word) {
    if (s.size() - at < word.size()) return false;
    for (std::size_t i = 0; i < word.size(); ++i)
        if (ascii_lower(s[at + i]) != word[i]) return false;
    return true;
}

// "Bearer x": keep the scheme, drop the credential.
std::string redact_schemes(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    std::size_t i = 0;
    while (i < in.size()) {
        const std::size_t word = starts_with_ci(in, i, "bearer") ? 6 : 0;
        const bool boundary = i == 0 || !b64url(in[i - 1]);
        if (word && boundary) {
            std::size_t j = i + word;
            std::size_t spaces = 0;
            while (j < in.size() && (in[j] == ' ' || in[j] == '\t')) ++j, ++spaces;
            std::size_t k = j;
            while (k < in.size() && token_char(in[k])) ++k;
            if (spaces > 0 && k - j >= 4) {
                out.append(in.substr(i, j - i)).append(kRedacted);
                i = k;
                continue;
            }
        }
        out += in[i++];
    }
    return out;
}

// JWTs: base64url(JSON header starting with '{"') = "eyJ…", then '.', payload, optional '.' signature.
std::string redact_jwts(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    std::size_t i = 0;
    while (i < in.size()) {
        if (in.compare(i, 3, "eyJ") == 0 && (i == 0 || !b64url(in[i - 1]))) {
            std::size_t j = i;
            while (j < in.size() && b64url(in[j])) ++j;
            if (j < in.size() && in[j] == '.' && j + 1 < in.size() && b64url(in[j + 1])) {
                ++j;
                while (j < in.size() && b64url(in[j])) ++j;
                if (j < in.size() && in[j] == '.') {
                    ++j;
                    while (j < in.size() && b64url(in[j])) ++j;
                }
                out.append(kRedacted);
                i = j;
                continue;
            }
        }
        out += in[i++];
    }
    return out;
}

}  // namespace

void register_secret(std::string_view secret) {
    if (secret.size() < kMinSecret) return;
    auto& s = secrets();
    for (auto it = s.begin(); it != s.end(); ++it) {
        if (*it == secret) {
            s.erase(it);
            break;
        }
    }
    s.emplace_back(secret);
    if (s.size() > kMaxSecrets) s.pop_front();
}

void register_key_pem(std::string_view pem) {
    key_lines().clear();
    while (!pem.empty()) {
        const auto nl = pem.find('\n');
        std::string_view line = pem.substr(0, nl);
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
        if (line.size() >= 16 && line.find("-----") == std::string_view::npos) key_lines().emplace_back(line);
        if (nl == std::string_view::npos) break;
        pem.remove_prefix(nl + 1);
    }
}

void clear_secrets() {
    secrets().clear();
    key_lines().clear();
}

std::string redact(std::string_view text) {
    std::string s(text);
    // Longest first, so a secret containing another is replaced whole.
    std::vector<const std::string*> order;
    for (const auto& x : secrets()) order.push_back(&x);
    for (const auto& x : key_lines()) order.push_back(&x);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->size() > b->size(); });
    for (const std::string* secret : order) {
        for (std::size_t at = s.find(*secret); at != std::string::npos; at = s.find(*secret, at + kRedacted.size()))
            s.replace(at, secret->size(), kRedacted);
    }
    return redact_jwts(redact_schemes(s));
}

namespace klog {

void write(log::Level l, std::string_view msg, std::initializer_list<log::Field> fields) {
    if (!log::enabled(l)) return;
    const std::string m = redact(msg);
    std::vector<log::Field> f(fields);
    for (auto& x : f)
        if (!x.raw) x.value = redact(x.value);
    // log::write takes an initializer list; kube log lines carry at most 6
    // fields (a 7th would be dropped here: keep it that way).
    switch (f.size()) {
    case 0:
        return log::write(l, m);
    case 1:
        return log::write(l, m, {f[0]});
    case 2:
        return log::write(l, m, {f[0], f[1]});
    case 3:
        return log::write(l, m, {f[0], f[1], f[2]});
    case 4:
        return log::write(l, m, {f[0], f[1], f[2], f[3]});
    case 5:
        return log::write(l, m, {f[0], f[1], f[2], f[3], f[4]});
    default:
        return log::write(l, m, {f[0], f[1], f[2], f[3], f[4], f[5]});
    }
}

}  // namespace klog

}  // namespace nra::kube
