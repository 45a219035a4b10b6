// The server's options, shared by `run` (which serves) and `start`/`restart` (which pass them on
// to a background `run`): each option is a sandstorm.conf key (cli/config.h), and
// `--config FILE` reads the rest from a file that the options override.
#pragma once

#include <kj/main.h>
#include <kj/string.h>
#include <kj/vector.h>

#include "cli/server-config.h"

namespace ss::cli {

constexpr uint16_t DEFAULT_PORT = 6080;
constexpr const char* DEFAULT_BIND_IP = "127.0.0.1";

class ServerOptions {
public:
  void addAll(kj::MainBuilder& builder);
  // --config and every server option (--port, --listen, --data-dir, ...).

  void addLocating(kj::MainBuilder& builder);
  // Only what finds a server (--config, --data-dir): for stop and status.

  Config resolve(kj::StringPtr commandName) const;
  // The file's settings (if --config) overridden by the options. Warnings about ignored keys
  // go to stderr, prefixed with the command's name.

  kj::ArrayPtr<const kj::String> asArguments() const { return arguments; }
  // The options as given, with relative paths made absolute: for `start` to pass to `run`.

private:
  kj::MainBuilder::Validity set(kj::StringPtr option, kj::StringPtr key, kj::StringPtr value);
  kj::MainBuilder::Validity setPath(kj::StringPtr option, kj::StringPtr key, kj::StringPtr value);

  struct Setting {
    kj::String key;
    kj::String value;  // already checked by applySetting()
  };
  kj::Maybe<kj::String> configPath;
  kj::Vector<Setting> settings;
  // --metrics-listen and --log-format: set on the resolved Config directly (overriding
  // METRICS_BIND and LOG_FORMAT from the file).
  kj::Maybe<kj::String> metricsListen;
  kj::Maybe<kj::String> logFormat;
  kj::Vector<kj::String> arguments;
};

kj::String absolutePath(kj::StringPtr path);
// `path` against the current directory (not resolving symlinks; need not exist).

kj::String dataDirOf(const Config& config);
// DATA_DIR, else the default (/var/lib/sandstorm as root, else ~/.local/share/sandstorm).

kj::String baseUrlOf(const Config& config, uint16_t actualPort);
// BASE_URL if set, else http://<BIND_IP, or 127.0.0.1 for a wildcard address>:<port>.

}  // namespace ss::cli
