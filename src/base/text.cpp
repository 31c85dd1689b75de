#include "nra/base/text.hpp"

namespace nra {

std::string_view trim(std::string_view s) {
    constexpr std::string_view ws = " \t\r\n";
    const auto b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) return {};
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = ascii_lower(c);
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

std::optional<bool> parse_bool(std::string_view s) {
    for (std::string_view t : {"1", "true", "yes", "on"})
        if (iequals(s, t)) return true;
    for (std::string_view f : {"0", "false", "no", "off"})
        if (iequals(s, f)) return false;
    return std::nullopt;
}

}  // namespace nra
