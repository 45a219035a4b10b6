#include "rpc/bridge/main-view.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <capnp/any.h>
#include <capnp/serialize.h>
#include <kj/debug.h>

#include "rpc/bridge/limits.h"

namespace ss::bridge {

kj::Own<BridgeConfigFile> BridgeConfigFile::load(kj::StringPtr path) {
  auto config = kj::heap<BridgeConfigFile>();
  int fd = ::open(path.cStr(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    KJ_REQUIRE(errno == ENOENT, "cannot open the bridge config", path, strerror(errno));
    config->names = kj::heapArray<kj::String>(0);
    return config;
  }
  kj::AutoCloseFd owned(fd);
  struct stat st;
  KJ_SYSCALL(fstat(fd, &st), path);
  KJ_REQUIRE(st.st_size >= 0 && size_t(st.st_size) <= limits::MAX_BRIDGE_CONFIG_BYTES &&
             st.st_size % sizeof(capnp::word) == 0,
             "bridge config has an impossible size", path, st.st_size);
  config->words = kj::heapArray<capnp::word>(st.st_size / sizeof(capnp::word));
  auto bytes = config->words.asBytes();
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n;
    KJ_SYSCALL(n = ::read(fd, bytes.begin() + got, bytes.size() - got), path);
    KJ_REQUIRE(n > 0, "bridge config shrank while being read", path);
    got += n;
  }
  capnp::ReaderOptions options;
  options.traversalLimitInWords = config->words.size() * 2;  // no pointer amplification
  auto reader = kj::heap<capnp::FlatArrayMessageReader>(config->words, options);
  auto root = reader->getRoot<spk::BridgeConfig>();
  auto permissions = root.getViewInfo().getPermissions();
  auto names = kj::heapArrayBuilder<kj::String>(permissions.size());
  for (auto p : permissions) names.add(kj::heapString(p.getName()));
  config->names = names.finish();
  config->reader = kj::mv(reader);
  return config;
}

kj::Maybe<spk::ViewInfo::Reader> BridgeConfigFile::viewInfo() {
  KJ_IF_MAYBE(r, reader) {
    auto root = (*r)->getRoot<spk::BridgeConfig>();
    if (root.hasViewInfo()) return root.getViewInfo();
  }
  return nullptr;
}

kj::Promise<void> MainViewImpl::getViewInfo(GetViewInfoContext context) {
  KJ_IF_MAYBE(info, config.viewInfo()) {
    // package.capnp's ViewInfo is a stand-in with grain.capnp's encoding (same ordinals and
    // types), so the struct can be reinterpreted rather than copied field by field.
    context.setResults(capnp::AnyStruct::Reader(*info).as<rpc::UiView::ViewInfo>());
  }
  return kj::READY_NOW;
}

kj::Promise<void> MainViewImpl::newSession(NewSessionContext context) {
  auto params = context.getParams();
  if (params.getSessionType() != capnp::typeId<rpc::WebSession>()) {
    kj::throwFatalException(KJ_EXCEPTION(UNIMPLEMENTED, "the http bridge only serves WebSession",
                                         params.getSessionType()));
  }
  auto sessionParams = params.getSessionParams().getAs<rpc::WebSession::Params>();
  // A new random ID per session: apps key per-session state on it (X-Sandstorm-Session-Id).
  auto sessionId = randomHex(16);
  auto headers = makeSessionHeaders(params.getUserInfo(), sessionParams, params.getTabId(),
                                    bridge.permissionNames, sessionId);
  context.getResults().setSession(
      rpc::WebSession::Client(kj::heap<WebSessionImpl>(bridge, kj::mv(headers))));
  return kj::READY_NOW;
}

}  // namespace ss::bridge
