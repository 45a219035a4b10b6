# The package format: package definitions (`sandstorm-pkgdef.capnp`), the manifest, key files and
# the signed archive inside a `.spk`.
#
# Written from Sandstorm's published package.capnp. The file ID, type names, nesting and field
# ordinals are Sandstorm's, so derived type IDs match and real Sandstorm packages, manifests and
# package definitions decode unchanged. App developers import it as "/sandstorm/package.capnp";
# `sandstorm spk pack` provides that import path itself.
#
# Not reproduced (we do not use them yet): Grain/Powerbox/Identity/ApiSession imports. Where a
# Sandstorm type comes from those files we declare a wire-compatible local stand-in (marked
# "stand-in" below); its type ID differs from Sandstorm's, its encoding does not.
@0xdf9bc20172856a3a;

$import "/capnp/c++.capnp".namespace("ss::spk");

using Util = import "util.capnp";

struct PackageDefinition {
  id @0 :Text;
  # The app ID: base32 text of the app's public key (`sandstorm spk keygen` prints one). `pack`
  # signs with the matching private key from the keyring.

  manifest @1 :Manifest;
  # Written as `sandstorm-manifest` at the package root.

  sourceMap @2 :SourceMap;
  # Where on the build machine to find the files that go into the package.

  fileList @3 :Text;
  # Optional: a file listing package paths, one per line, each included non-recursively.

  alwaysInclude @4 :List(Text);
  # Package paths always included; directories recursively. If neither `fileList` nor
  # `alwaysInclude` is given, `sandstorm spk pack` includes everything the sourceMap maps.

  bridgeConfig @5 :BridgeConfig;
  # Written as `sandstorm-http-bridge-config` for apps behind the http bridge.
}

struct Manifest {
  # Serialized (binary) as the file `sandstorm-manifest` at the root of every package.

  const sizeLimitInWords :UInt64 = 1048576;
  # 8 MiB, Sandstorm's limit; enforced wherever a manifest is read.

  appTitle @7 :Util.LocalizedText;
  appVersion @4 :UInt32;
  # Orders packages of one app (same key): bigger is newer. Never shown.
  minUpgradableAppVersion @5 :UInt32;
  appMarketingVersion @6 :Util.LocalizedText;
  # Shown to people, e.g. "2.9.17".
  minApiVersion @0 :UInt32;
  maxApiVersion @1 :UInt32;
  metadata @8 :Metadata;

  struct Command {
    # argv is executed directly, never through a shell; the environment is exactly `environ`
    # (the platform adds HOME, TMPDIR, PATH and SANDSTORM=1 where missing).
    argv @1 :List(Text);
    environ @2 :List(Util.KeyValue);
    deprecatedExecutablePath @0 :Text;
    # Obsolete: prepended to argv when set.
  }

  struct Action {
    input :union {
      none @0 :Void;
      capability @1 :List(PowerboxDescriptor);
    }
    command @2 :Command;
    title @3 :Util.LocalizedText;
    # Obsolete.
    nounPhrase @5 :Util.LocalizedText;
    # "New <nounPhrase>" in the shell.
    description @4 :Util.LocalizedText;
  }

  actions @2 :List(Action);
  continueCommand @3 :Command;
  # Restarts an existing grain.
}

struct PowerboxDescriptor {
  # Stand-in for Sandstorm's powerbox.capnp PowerboxDescriptor (same encoding).
  tags @0 :List(Tag);
  quality @1 :MatchQuality = acceptable;

  struct Tag {
    id @0 :UInt64;
    value @1 :AnyPointer;
  }

  enum MatchQuality {
    acceptable @0;
    preferred @1;
    unacceptable @2;
  }
}

struct SourceMap {
  searchPath @0 :List(Mapping);
  # Searched in order; the first mapping holding a path wins.

  struct Mapping {
    packagePath @0 :Text;
    # Where in the package this directory appears (canonical, no leading '/'; empty = root).
    sourcePath @1 :Text;
    # Directory on the build machine; relative paths are relative to the pkgdef file.
    hidePaths @2 :List(Text);
    # Paths under sourcePath never packed (canonical, no leading '/').
  }
}

struct BridgeConfig {
  viewInfo @0 :ViewInfo;
  apiPath @1 :Text;
  saveIdentityCaps @2 :Bool;
  powerboxApis @3 :List(PowerboxApi);
  expectAppHooks @4 :Bool;

  struct PowerboxApi {
    # Same encoding as Sandstorm's; displayInfo and tag are Powerbox/ApiSession structs we do not
    # declare yet, so a pkgdef cannot set them in text (it fails to parse, naming the field).
    name @0 :Text;
    displayInfo @1 :AnyPointer;
    path @2 :Text;
    tag @3 :AnyPointer;
    permissions @4 :List(Bool);
  }
}

struct ViewInfo {
  # Stand-in for grain.capnp UiView.ViewInfo (same encoding): the app's permissions and roles.
  permissions @0 :List(PermissionDef);
  roles @1 :List(RoleDef);
  deniedPermissions @2 :List(Bool);

  struct PermissionDef {
    name @3 :Text;
    title @0 :Util.LocalizedText;
    description @1 :Util.LocalizedText;
    obsolete @2 :Bool = false;
  }

  struct RoleDef {
    title @0 :Util.LocalizedText;
    verbPhrase @1 :Util.LocalizedText;
    description @2 :Util.LocalizedText;
    permissions @3 :List(Bool);
    obsolete @4 :Bool = false;
    default @5 :Bool = false;
  }
}

struct Metadata {
  # Presentation only: nothing here affects how the app runs.

  icons :group {
    appGrid @0 :Icon;
    grain @1 :Icon;
    market @2 :Icon;
    marketBig @18 :Icon;
  }

  struct Icon {
    union {
      unknown @0 :Void;
      svg @1 :Text;
      png :group {
        dpi1x @2 :Data;
        dpi2x @3 :Data;
      }
    }
  }

  website @3 :Text;
  codeUrl @4 :Text;

  license :group {
    union {
      none @5 :Void;
      openSource @6 :OpenSourceLicense;
      proprietary @7 :Util.LocalizedText;
      publicDomain @8 :Util.LocalizedText;
    }
    notices @9 :Util.LocalizedText;
  }

  categories @10 :List(Category);

  author :group {
    upstreamAuthor @19 :Text;
    contactEmail @11 :Text;
    pgpSignature @12 :Data;
  }

  pgpKeyring @13 :Data;
  description @14 :Util.LocalizedText;
  shortDescription @15 :Util.LocalizedText;
  screenshots @16 :List(Screenshot);

  struct Screenshot {
    width @0 :UInt32;
    height @1 :UInt32;
    union {
      unknown @2 :Void;
      png @3 :Data;
      jpeg @4 :Data;
    }
  }

  changeLog @17 :Util.LocalizedText;
}

enum OpenSourceLicense {
  # Sandstorm's enumerant order (the osiInfo annotations are omitted).
  invalid @0;
  mit @1;
  apache2 @2;
  gpl3 @3;
  agpl3 @4;
  bsd3Clause @5;
  bsd2Clause @6;
  gpl2 @7;
  lgpl2 @8;
  lgpl3 @9;
  isc @10;
  artistic2 @11;
  python2 @12;
  php3 @13;
  mpl2 @14;
  cddl @15;
  epl @16;
  cpal @17;
  zlib @18;
}

enum Category {
  other @0;
  productivity @1;
  communications @2;
  social @3;
  webPublishing @4;
  office @5;
  developerTools @6;
  science @7;
  media @8;
  games @9;
  graphics @10;
}

struct AppId {
  id0 @0 :UInt64;
  id1 @1 :UInt64;
  id2 @2 :UInt64;
  id3 @3 :UInt64;
}

struct PackageId {
  id0 @0 :UInt64;
  id1 @1 :UInt64;
}

struct VerifiedInfo {
  appId @0 :AppId;
  packageId @1 :PackageId;
  title @2 :Util.LocalizedText;
  version @3 :UInt32;
  marketingVersion @4 :Util.LocalizedText;
  authorPgpKeyFingerprint @5 :Text;
  metadata @6 :Metadata;
}

# ==============================================================================================
# Below: not for app developers.

struct KeyFile {
  # A libsodium crypto_sign key pair. A keyring file is a sequence of these messages, so keyrings
  # can be merged with `cat`.
  publicKey @0 :Data;   # 32 bytes
  privateKey @1 :Data;  # 64 bytes
}

const magicNumber :Data = "\x8f\xc6\xcd\xef\x45\x1a\xea\x96";
# Sandstorm's package: these 8 bytes, then an xz stream holding a `Signature` message followed by
# an `Archive` message.

const zstdMagicNumber :Data = "\x8f\xc6\xcd\xef\x53\x53\x7a\x01";
# Ours (not Sandstorm's): same first 4 bytes, then "SSz" and format version 1. The same two
# messages follow, compressed as one zstd frame instead of xz (unpacks ~10x faster here).

struct Signature {
  publicKey @0 :Data;
  # 32-byte ed25519 public key; its base32 text is the app ID.
  signature @1 :Data;
  # libsodium crypto_sign (attached) of the 64-byte SHA-512 of the Archive message bytes exactly
  # as they follow this message in the decompressed stream (128 bytes in all).
}

struct Archive {
  files @0 :List(File);

  struct File {
    name @0 :Text;
    # Not empty, not "." or "..", no '/' or NUL, unique within its directory.
    lastModificationTimeNs @5 :Int64;

    union {
      regular @1 :Data;
      executable @2 :Data;
      symlink @3 :Text;
      # Resolved inside the sandbox, where the package is "/".
      directory @4 :List(File);
    }
  }
}
