// The one convention for expected failures: a value, or a human-readable
// reason saying what failed and where. Exceptions are for start-up only
// (a setting that cannot work, a socket that cannot be opened).
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace nra {

template <class T>
struct Result {
    std::optional<T> value;
    std::string error;  // empty when value is set

    explicit operator bool() const { return value.has_value(); }
    static Result ok(T v) { return Result{std::move(v), {}}; }
    static Result fail(std::string why) { return Result{std::nullopt, std::move(why)}; }
};

}  // namespace nra
