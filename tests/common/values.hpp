// Value builders shared by the Catch2 test binaries (include after catch.hpp).
#pragma once

#include "nra/core/ip.hpp"

namespace nra::testing {

inline Prefix pfx(const char* s) {
    auto p = parse_prefix(s);
    REQUIRE(p);
    return *p.value;
}

inline IpAddr addr(const char* s) {
    auto a = IpAddr::parse(s);
    REQUIRE(a);
    return *a;
}

}  // namespace nra::testing
