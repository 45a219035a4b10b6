// The grain's bootstrap capability on fd 3: a MainView (a UiView) whose sessions are
// WebSessionImpl. The platform calls getViewInfo() to learn the app's permissions and roles,
// and newSession() once per browser session.
#pragma once

#include <capnp/message.h>
#include <kj/array.h>
#include <kj/string.h>

#include "rpc/bridge/web-session.h"
#include "rpc/grain.capnp.h"
#include "rpc/package.capnp.h"

namespace ss::bridge {

class BridgeConfigFile {
  // /sandstorm-http-bridge-config: a serialized BridgeConfig (rpc/package.capnp) that `spk pack`
  // writes from the package definition. A package without one gets an empty ViewInfo.
public:
  static kj::Own<BridgeConfigFile> load(kj::StringPtr path);
  // Missing file: empty config. Unreadable or malformed: throws naming the path.

  kj::Maybe<spk::ViewInfo::Reader> viewInfo();
  kj::ArrayPtr<const kj::String> permissionNames() const { return names; }

private:
  kj::Array<capnp::word> words;
  kj::Maybe<kj::Own<capnp::MessageReader>> reader;
  kj::Array<kj::String> names;
};

class MainViewImpl final: public rpc::MainView::Server {
public:
  MainViewImpl(Bridge& bridge, BridgeConfigFile& config): bridge(bridge), config(config) {}

protected:
  kj::Promise<void> getViewInfo(GetViewInfoContext context) override;
  kj::Promise<void> newSession(NewSessionContext context) override;

private:
  Bridge& bridge;
  BridgeConfigFile& config;
};

}  // namespace ss::bridge
