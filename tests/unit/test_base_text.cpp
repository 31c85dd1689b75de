#include <catch2/catch.hpp>

#include "nra/base/backoff.hpp"
#include "nra/base/text.hpp"

using namespace nra;

TEST_CASE("trim drops spaces, tabs, CR and LF at both ends only") {
    CHECK(trim("  a b \t\r\n") == "a b");
    CHECK(trim("\r\n").empty());
    CHECK(trim("") == "");
    CHECK(trim("x") == "x");
}

TEST_CASE("ASCII lowercase and case-insensitive equality") {
    CHECK(ascii_lower("Content-LENGTH 1") == "content-length 1");
    CHECK(ascii_lower('Z') == 'z');
    CHECK(ascii_lower('\xC3') == '\xC3');  // bytes beyond ASCII unchanged
    CHECK(iequals("Chunked", "cHUNKED"));
    CHECK_FALSE(iequals("chunked", "chunke"));
    CHECK_FALSE(iequals("a", "b"));
}

TEST_CASE("one boolean spelling: 1/true/yes/on and 0/false/no/off, any case") {
    for (const char* t : {"1", "true", "TRUE", "True", "yes", "Yes", "on", "ON"}) CHECK(parse_bool(t) == true);
    for (const char* f : {"0", "false", "False", "no", "NO", "off", "Off"}) CHECK(parse_bool(f) == false);
    for (const char* x : {"", " true", "2", "y", "enabled", "truee"}) CHECK_FALSE(parse_bool(x).has_value());
}

TEST_CASE("backoff doubles from 0.8 s with jitter, caps at 30 s and resets after 2 quiet minutes") {
    Backoff::Clock::time_point now{};
    double jitter = 0.0;
    Backoff b([&] { return now; }, [&] { return jitter; });
    using ms = std::chrono::milliseconds;
    CHECK(b.next() == ms(800));
    CHECK(b.next() == ms(1600));
    jitter = 0.5;
    CHECK(b.next() == ms(4800));  // 3.2 s + 50 %
    jitter = 0.0;
    for (int i = 0; i < 10; ++i) b.next();
    CHECK(b.next() == ms(30000));
    jitter = 0.99;
    CHECK(b.next() == ms(30000));  // the cap includes the jitter
    CHECK(b.steps() > 5);
    now += std::chrono::minutes(2) + ms(1);
    jitter = 0.0;
    CHECK(b.next() == ms(800));
    b.reset();
    CHECK(b.steps() == 0);
    CHECK(b.next() == ms(800));
}

TEST_CASE("the default backoff stays within its bounds") {
    Backoff b;
    for (int i = 0; i < 40; ++i) {
        const auto d = b.next();
        CHECK(d >= Backoff::kInitial);
        CHECK(d <= Backoff::kCap);
    }
}
