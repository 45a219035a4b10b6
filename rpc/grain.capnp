# The interfaces between the platform and a grain. Written from Sandstorm's published
# grain.capnp: file ID, type names and method ordinals are Sandstorm's, for the parts we use.
# The platform calls the grain's bootstrap capability (a MainView, which is a UiView) on fd 3.
@0xc8d91463cfc4fb4a;

$import "/capnp/c++.capnp".namespace("ss::rpc");

using Util = import "util.capnp";
using Identity = import "identity.capnp";

interface UiView @0xdbb4d798ea67e2e7 {
  getViewInfo @0 () -> ViewInfo;
  # What the app says about itself: permissions and roles for sharing.

  struct ViewInfo {
    permissions @0 :List(PermissionDef);
    roles @1 :List(RoleDef);
    deniedPermissions @2 :Identity.PermissionSet;
    matchRequests @3 :AnyPointer;  # List(PowerboxDescriptor): not used yet
    matchOffers @4 :AnyPointer;
    appTitle @5 :Util.LocalizedText;
  }

  struct PermissionDef {
    name @3 :Text;              # sent to the app in X-Sandstorm-Permissions
    title @0 :Util.LocalizedText;
    description @1 :Util.LocalizedText;
    obsolete @2 :Bool;
  }

  struct RoleDef {
    title @0 :Util.LocalizedText;       # "editor"
    verbPhrase @1 :Util.LocalizedText;  # "can edit"
    description @2 :Util.LocalizedText;
    permissions @3 :Identity.PermissionSet;
    obsolete @4 :Bool;
    default @5 :Bool;
  }

  newSession @1 (userInfo :Identity.UserInfo, context :SessionContext,
                 sessionType :UInt64, sessionParams :AnyPointer, tabId :Data)
             -> (session :UiSession);
  # sessionType is the type ID of the session interface wanted (WebSession's ID for the browser).
}

interface UiSession {}

interface SessionContext {
  # The platform's side of one session. (Powerbox and sharing methods are not implemented yet.)
}

interface MainView extends(UiView) {}
