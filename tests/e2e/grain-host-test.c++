// Many grains at once through the daemon's GrainHost, on one reactor: every grain is a real
// sandbox with our bridge and the test app, started in parallel.
#include <sys/stat.h>
#include <unistd.h>

#include <kj/async.h>

#include "base/clock.h"
#include "reactor/reactor.h"
#include "shell/grain-host.h"
#include "tests/e2e/e2e-support.h"
#include "tests/test-support.h"

namespace ss::e2e {
namespace {

constexpr size_t GRAINS = 100;

}  // namespace

TEST_CASE("grain host: 100 grains start in parallel, answer, and all stop", "[grain]") {
  if (geteuid() != 0) SS_SKIP("grains need root (sandbox uid mapping and cgroups)");
  ss::test::TempDir temp;
  REQUIRE(chmod(temp.path().cStr(), 0711) == 0);
  std::string appDir = temp.file("app").cStr();
  REQUIRE(run({SANDSTORM_BINARY, "spk", "unpack", GRAIN_TEST_SPK, appDir}) == 0);
  REQUIRE(mkdir(temp.file("grains").cStr(), 0711) == 0);

  reactor::Reactor reactor;
  kj::EventLoop loop(reactor);
  kj::WaitScope waitScope(loop);
  shell::GrainHostOptions options;
  options.bridgePath = kj::str(BRIDGE_BINARY);
  options.idleTimeoutMs = 600'000;
  shell::GrainHost host(reactor, kj::mv(options));

  kj::Vector<shell::GrainSpec> specs;
  for (size_t i = 0; i < GRAINS; i++) {
    shell::GrainSpec spec;
    spec.grainId = kj::str("many-", i);
    spec.packageDir = kj::str(appDir);
    spec.varDir = kj::str(temp.path(), "/grains/", i);
    auto argv = kj::heapArrayBuilder<kj::String>(5);
    for (const char* arg: {"/sandstorm-http-bridge", "8000", "--", TEST_APP_PATH, "8000"}) {
      argv.add(kj::str(arg));
    }
    spec.argv = argv.finish();
    auto env = kj::heapArrayBuilder<kj::String>(1);
    env.add(kj::str("SANDSTORM_BRIDGE_PORT_WAIT_MS=60000"));
    spec.env = env.finish();
    spec.logPath = kj::str(temp.path(), "/grains/", i, ".log");
    specs.add(kj::mv(spec));
  }

  uint64_t start = monotonicNowMs();
  kj::Vector<kj::Promise<kj::String>> answers;
  for (auto& spec: specs) {
    answers.add(host.acquire(spec).then([](kj::Own<shell::GrainHost::Lease> lease) {
      auto& l = *lease;
      return l.webSession().then([](rpc::WebSession::Client session) {
        auto call = session.getRequest();
        call.setPath("echo/hello");
        call.initContext();
        return call.send();
      }).then([](capnp::Response<rpc::WebSession::Response> response) {
        REQUIRE(response.isContent());
        auto body = response.getContent().getBody();
        REQUIRE(body.isBytes());
        auto bytes = body.getBytes();
        return kj::heapString(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
      }).attach(kj::mv(lease));
    }));
  }
  auto results = kj::joinPromises(answers.releaseAsArray()).wait(waitScope);
  uint64_t elapsed = monotonicNowMs() - start;
  INFO("100 grains answered in " << elapsed << " ms");
  REQUIRE(results.size() == GRAINS);
  for (auto& text: results) CHECK(text.startsWith("method: GET\ntarget: /echo/hello\n"));
  CHECK(host.runningCount() == GRAINS);
  // Each grain is two processes (bridge as the sandbox's pid 1, and the app).
  CHECK(grainProcesses("/many-") >= int(GRAINS * 2));

  for (auto& spec: specs) host.stop(spec.grainId);
  auto deadline = monotonicNowMs() + 20000;
  while (grainProcesses("/many-") != 0 && monotonicNowMs() < deadline) {
    reactor.timer().afterDelay(50 * kj::MILLISECONDS).wait(waitScope);
  }
  CHECK(grainProcesses("/many-") == 0);
  CHECK(host.runningCount() == 0);
}

}  // namespace ss::e2e
