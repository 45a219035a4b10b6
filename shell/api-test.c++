#include "shell/api.h"

#include "http/head-parser.h"
#include "tests/test-support.h"

namespace ss::shell {
namespace {

TEST_CASE("JSON strings are escaped, including </ for HTML contexts", "[shell]") {
  CHECK(jsonString("plain") == "\"plain\"");
  CHECK(jsonString("a\"b\\c\nd\te") == "\"a\\\"b\\\\c\\nd\\te\"");
  CHECK(jsonString("</script>") == "\"<\\/script>\"");
  CHECK(jsonString(kj::StringPtr("\x01", 1)) == "\"\\u0001\"");
  JsonWriter w;
  w.beginObject().field("n", int64_t(-5)).field("b", true).nullField("z");
  w.key("list").beginArray().value("x").value(int64_t(1)).endArray().endObject();
  CHECK(w.finish() == "{\"n\":-5,\"b\":true,\"z\":null,\"list\":[\"x\",1]}\n");
}

TEST_CASE("JSON bodies: fields, types and readable errors", "[shell]") {
  JsonBody body("{\"name\":\"ann\",\"n\":3,\"flag\":true,\"nothing\":null}");
  CHECK(body.string("name") == "ann");
  CHECK(body.integer("n") == 3);
  CHECK(body.boolean("flag"));
  CHECK(!body.boolean("absent"));
  CHECK(body.optionalString("nothing") == nullptr);
  CHECK_THROWS_AS(body.string("absent"), ApiError);
  CHECK_THROWS_AS(body.integer("name"), ApiError);
  CHECK_THROWS_AS(JsonBody("not json"), ApiError);
  CHECK_THROWS_AS(JsonBody("[1,2]"), ApiError);
  CHECK_THROWS_AS(JsonBody("{\"n\":1.5}").integer("n"), ApiError);
  // Nesting is bounded: a deeply nested body is refused, not a stack overflow.
  std::string deep(5000, '[');
  CHECK_THROWS_AS(JsonBody(kj::str("{\"a\":", deep.c_str(), "}")), ApiError);
}

TEST_CASE("percent-decoding and cookies", "[shell]") {
  CHECK(percentDecode("a%20b%2Fc") == "a b/c");
  CHECK(percentDecode("a+b") == "a+b");
  CHECK(percentDecode("a+b", true) == "a b");
  CHECK(percentDecode("bad%2") == "bad%2");
  CHECK(percentDecode("%zz") == "%zz");

  http::Request request;
  std::string head = "GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1; sandstorm-session=tok; b=2\r\n\r\n";
  REQUIRE(http::parseHead(head, request).kind == http::HeadResult::COMPLETE);
  CHECK(KJ_ASSERT_NONNULL(cookieValue(request, "sandstorm-session")) == "tok");
  CHECK(KJ_ASSERT_NONNULL(cookieValue(request, "b")) == "2");
  CHECK(cookieValue(request, "c") == nullptr);
}

}  // namespace
}  // namespace ss::shell
