// Small ASCII text helpers shared by every layer (no locale: configuration,
// HTTP and label values are ASCII where these are used).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace nra {

// Without leading and trailing spaces, tabs, CRs and LFs.
std::string_view trim(std::string_view s);

// 'A'..'Z' -> 'a'..'z'; every other byte unchanged.
constexpr char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
std::string ascii_lower(std::string_view s);

// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b);

// The one boolean spelling, case-insensitive: 1/true/yes/on and
// 0/false/no/off; anything else (including "" and surrounding spaces) is
// nullopt, for the caller to refuse or to treat as its default.
std::optional<bool> parse_bool(std::string_view s);

}  // namespace nra
