# Who a user is, as a grain sees it. Written from Sandstorm's published identity.capnp: file ID,
# type names and ordinals are Sandstorm's (UserInfo keeps its explicit ID).
@0xc822108a5c3d7d25;

$import "/capnp/c++.capnp".namespace("ss::rpc");

using PermissionSet = List(Bool);
# Indexed like the app's ViewInfo.permissions: true = held.

struct UserInfo @0x94b9d1efb35d11d3 {
  displayName @0 :Text;
  # The user's chosen name, or "Anonymous User" for a sharing link opened without logging in.

  deprecatedPermissionsBlob @1 :Data;
  identityId @2 :Data;
  # 32 bytes (SHA-256 of the account's identity); null for anonymous users. The bridge sends
  # the first 16 bytes as hex in X-Sandstorm-User-Id.

  permissions @3 :PermissionSet;
  preferredHandle @4 :Text;
  pronouns @5 :Pronouns;
  pictureUrl @6 :Text;

  enum Pronouns {
    neutral @0;
    male @1;
    female @2;
    robot @3;
  }
}
