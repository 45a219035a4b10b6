# Sandstorm's util.capnp, the parts packages use. Written from the published schema: the file ID
# and the type names are Sandstorm's, so every derived type ID matches theirs and a manifest
# written by Sandstorm's spk decodes here (and the other way round).
@0xecd50d792c3d9992;

$import "/capnp/c++.capnp".namespace("ss::rpc");

using DateInNs = Int64;
using DurationInNs = UInt64;

struct KeyValue {
  key @0 :Text;
  value @1 :Text;
}

struct LocalizedText {
  # Text shown to a person, optionally in several languages.

  defaultText @0 :Text;
  # Shown when no localization matches the user's preferences.

  localizations @1 :List(Localization);

  struct Localization {
    locale @0 :Text;  # IETF BCP 47, e.g. "en" or "en-US".
    text @1 :Text;
  }
}

interface Handle @0x98f424ac606042e0 {
  # A resource held by the caller; dropping the capability releases it. Ours also use a Handle
  # to carry a file descriptor (Cap'n Proto fd passing): the server side implements getFd(), the
  # receiving side reads it with Capability::Client::getFd(). Pipes for bodies travel this way.
  ping @0 ();
}
