// Credentials never reach the log (issue 8 item 11) and malformed metadata
// names its object (item 13).
#include <catch2/catch.hpp>

#include "nra/kube/objects.hpp"
#include "nra/kube/redact.hpp"

using namespace nra::kube;

TEST_CASE("redact: registered tokens, Bearer credentials and JWTs") {
    clear_secrets();
    register_secret("s3cr3t-token-value");
    register_secret("abc");  // too short to redact safely: ignored
    CHECK(redact("token s3cr3t-token-value rejected") == "token [REDACTED] rejected");
    CHECK(redact("xs3cr3t-token-valuex twice s3cr3t-token-value") == "x[REDACTED]x twice [REDACTED]");
    CHECK(redact("abc def") == "abc def");
    CHECK(redact("Authorization: Bearer opaque123456") == "Authorization: Bearer [REDACTED]");
    CHECK(redact("authorization: bearer\topaque-1.2_3~4+5/6=") == "authorization: bearer\t[REDACTED]");
    CHECK(redact("Bearer") == "Bearer");
    CHECK(redact("unbearer xyzxyzxyz") == "unbearer xyzxyzxyz");  // not a word boundary
    CHECK(redact("sa eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln end") == "sa [REDACTED] end");
    CHECK(redact("eyJonly no dot") == "eyJonly no dot");
    CHECK(redact("plain text, nothing secret: 10.0.0.1/24") == "plain text, nothing secret: 10.0.0.1/24");
    // A rotated token is covered as well as the old one.
    register_secret("rotated-token-2");
    CHECK(redact("s3cr3t-token-value rotated-token-2") == "[REDACTED] [REDACTED]");
    // Only the most recent 16 are kept.
    for (int i = 0; i < 16; ++i) register_secret("filler-token-" + std::to_string(i));
    CHECK(redact("s3cr3t-token-value") == "s3cr3t-token-value");
    CHECK(redact("filler-token-15") == "[REDACTED]");
    clear_secrets();
}

TEST_CASE("redact: client key lines") {
    clear_secrets();
    register_key_pem(
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nshort\n-----END PRIVATE KEY-----\n");
    CHECK(redact("echo MIIEvQIBADANBgkqhkiG9w0BAQEFAASC here") == "echo [REDACTED] here");
    CHECK(redact("-----BEGIN PRIVATE KEY----- short") == "-----BEGIN PRIVATE KEY----- short");
    clear_secrets();
}

namespace {
ObjectMeta meta_of(const std::string& json, bool& ok, std::string& error) {
    static simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE_FALSE(parser.parse(json).get(doc));
    ObjectMeta m;
    ok = decode_meta(doc, m, error);
    return m;
}
}  // namespace

TEST_CASE("decode_meta: a bad field names the object and the problem") {
    bool ok = false;
    std::string error;
    auto m = meta_of(R"({"metadata":{"name":"p","namespace":"ns","labels":["a","b"]}})", ok, error);
    CHECK_FALSE(ok);
    CHECK(m.key() == "ns/p");
    CHECK(error == "metadata.labels is not a map of strings");

    m = meta_of(R"({"metadata":{"name":"p","namespace":"ns","labels":"zone=a"}})", ok, error);
    CHECK_FALSE(ok);
    CHECK(m.key() == "ns/p");
    CHECK(error == "metadata.labels is not a map of strings");

    m = meta_of(R"({"metadata":{"name":"p","labels":{"a":1}}})", ok, error);
    CHECK_FALSE(ok);
    CHECK(m.name == "p");
    CHECK(error == "metadata.labels has a value that is not a string");

    m = meta_of(R"({"metadata":{"namespace":"ns"}})", ok, error);
    CHECK_FALSE(ok);
    CHECK(error == "no metadata.name");

    m = meta_of(R"({"metadata":{"name":7}})", ok, error);
    CHECK_FALSE(ok);
    CHECK(error == "metadata.name is not a string");

    m = meta_of(R"({"metadata":[]})", ok, error);
    CHECK_FALSE(ok);
    CHECK(error == "metadata is not an object");

    m = meta_of(R"({"metadata":{"name":"p","namespace":"ns","resourceVersion":"5","labels":{"a":"b","c":null}}})", ok,
                error);
    CHECK(ok);
    CHECK(m.resource_version == "5");
    CHECK(m.labels.size() == 2);
}
