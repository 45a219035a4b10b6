#include "cli/server-options.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <kj/debug.h>

#include "base/log.h"
#include "shell/data-dir.h"

namespace ss::cli {

kj::String absolutePath(kj::StringPtr path) {
  if (path.startsWith("/")) return kj::heapString(path);
  char cwd[4096];
  KJ_SYSCALL(getcwd(cwd, sizeof(cwd)) == nullptr ? -1 : 0);
  kj::StringPtr rest = path;
  while (rest.startsWith("./")) rest = rest.slice(2);
  if (rest == ".") return kj::str(cwd);
  return kj::str(cwd, kj::StringPtr(cwd) == "/" ? "" : "/", rest);
}

kj::MainBuilder::Validity ServerOptions::set(kj::StringPtr option, kj::StringPtr key,
                                             kj::StringPtr value) {
  Config check;
  KJ_IF_MAYBE(why, applySetting(check, key, value)) {
    return kj::mv(*why);
  }
  settings.add(Setting{kj::heapString(key), kj::heapString(value)});
  arguments.add(kj::str("--", option, "=", value));
  return true;
}

kj::MainBuilder::Validity ServerOptions::setPath(kj::StringPtr option, kj::StringPtr key,
                                                 kj::StringPtr value) {
  if (value.size() == 0) return "must not be empty";
  return set(option, key, absolutePath(value));
}

void ServerOptions::addLocating(kj::MainBuilder& builder) {
  builder
      .addOptionWithArg({"config"}, [this](kj::StringPtr value) -> kj::MainBuilder::Validity {
        if (value.size() == 0) return "must not be empty";
        auto path = absolutePath(value);
        arguments.add(kj::str("--config=", path));
        configPath = kj::mv(path);
        return true;
      }, "<file>", "Read settings from this sandstorm.conf (KEY=VALUE lines, see README); the "
         "other options override it.")
      .addOptionWithArg({"data-dir"}, [this](kj::StringPtr v) {
        return setPath("data-dir", "DATA_DIR", v);
      }, "<dir>", "Data directory (DATA_DIR; default /var/lib/sandstorm as root, else "
                  "~/.local/share/sandstorm).");
}

void ServerOptions::addAll(kj::MainBuilder& builder) {
  addLocating(builder);
  builder
      .addOptionWithArg({'p', "port"}, [this](kj::StringPtr v) { return set("port", "PORT", v); },
                        "<port>", "Shell port (PORT; default 6080; 0 picks a free port).")
      .addOptionWithArg({"listen"}, [this](kj::StringPtr v) { return set("listen", "BIND_IP", v); },
                        "<address>", "Address to bind (BIND_IP; default 127.0.0.1; 0.0.0.0 or :: "
                                     "for all).")
      .addOptionWithArg({"base-url"}, [this](kj::StringPtr v) {
        return set("base-url", "BASE_URL", v);
      }, "<url>", "The URL people open, e.g. behind a proxy (BASE_URL; default "
                  "http://<listen address>:<port>).")
      .addOptionWithArg({"ui-dir"}, [this](kj::StringPtr v) { return setPath("ui-dir", "UI_DIR", v); },
                        "<dir>", "Directory of the web UI (default: the installed or source "
                                 "shell-ui/).")
      .addOptionWithArg({"grain-ports"}, [this](kj::StringPtr v) {
        return set("grain-ports", "GRAIN_PORTS", v);
      }, "<first>-<last>", "Ports for grain origins, one per open grain (GRAIN_PORTS; default "
                           "7000-7099).")
      .addOptionWithArg({"wildcard-host"}, [this](kj::StringPtr v) {
        return set("wildcard-host", "WILDCARD_HOST", v);
      }, "<*.domain>", "Serve grains at https://grain-<port>.<domain>/ through a TLS proxy "
                       "(WILDCARD_HOST; docs/nginx-example.conf) instead of "
                       "http://<host>:<port>/.")
      .addOptionWithArg({"idle-timeout"}, [this](kj::StringPtr v) {
        return set("idle-timeout", "IDLE_TIMEOUT_SECONDS", v);
      }, "<seconds>", "Stop a grain after this long without requests (IDLE_TIMEOUT_SECONDS; "
                      "default 120).")
      .addOptionWithArg({"grain-timeout"}, [this](kj::StringPtr v) {
        return set("grain-timeout", "GRAIN_TIMEOUT_SECONDS", v);
      }, "<seconds>", "Answer 504 when a grain sends no response head for this long "
                      "(GRAIN_TIMEOUT_SECONDS; default 310).")
      .addOptionWithArg({"send-timeout"}, [this](kj::StringPtr v) {
        return set("send-timeout", "SEND_TIMEOUT_SECONDS", v);
      }, "<seconds>", "Drop a client that reads none of its response for this long "
                      "(SEND_TIMEOUT_SECONDS; default 60).")
      .addOptionWithArg({"demo-apps"}, [this](kj::StringPtr v) {
        return setPath("demo-apps", "DEMO_APPS_DIR", v);
      }, "<dir>", "Directory of .spk files installed on first start (DEMO_APPS_DIR; default: "
                  "the installed or built demo apps).")
      .addOptionWithArg({"metrics-listen"}, [this](kj::StringPtr v) -> kj::MainBuilder::Validity {
        if (parseListenAddress(v) == nullptr) {
          return "must be <ip>:<port>, e.g. 127.0.0.1:9116 or [::1]:9116";
        }
        metricsListen = kj::str(v);
        arguments.add(kj::str("--metrics-listen=", v));
        return true;
      }, "<ip>:<port>", "Serve /metrics (Prometheus) and /api/health on this separate address "
                        "(METRICS_BIND; default: off). Keep it private: it is unauthenticated.")
      .addOptionWithArg({"log-format"}, [this](kj::StringPtr v) -> kj::MainBuilder::Validity {
        if (v != "text" && v != "json") return "must be text or json";
        logFormat = kj::str(v);
        arguments.add(kj::str("--log-format=", v));
        return true;
      }, "<text|json>", "Log lines as text (key=value; a <N> priority prefix under journald) or "
                        "one JSON object per line (LOG_FORMAT; default text).")
      .addOption({"debug"}, [this]() {
        setLogLevel(LogLevel::DEBUG);
        arguments.add(kj::str("--debug"));
        return true;
      }, "Log debug messages.");
}

Config ServerOptions::resolve(kj::StringPtr commandName) const {
  Config result;
  KJ_IF_MAYBE(path, configPath) result = readConfigFile(*path);
  Config overrides;
  for (auto& setting: settings) {
    KJ_ASSERT(applySetting(overrides, setting.key, setting.value) == nullptr);
  }
  KJ_IF_MAYBE(m, metricsListen) overrides.metricsBind = kj::str(*m);
  KJ_IF_MAYBE(f, logFormat) overrides.logFormat = kj::str(*f);
  result.overrideWith(kj::mv(overrides));
  for (auto& warning: result.warnings) {
    fprintf(stderr, "sandstorm %s: warning: %s\n", commandName.cStr(), warning.cStr());
  }
  result.warnings.clear();
  return result;
}

kj::String dataDirOf(const Config& config) {
  KJ_IF_MAYBE(dir, config.dataDir) return kj::heapString(*dir);
  return shell::DataDir::defaultPath();
}

kj::String baseUrlOf(const Config& config, uint16_t actualPort) {
  KJ_IF_MAYBE(url, config.baseUrl) return kj::heapString(*url);
  kj::StringPtr listen = DEFAULT_BIND_IP;
  KJ_IF_MAYBE(ip, config.bindIp) listen = *ip;
  kj::StringPtr shown = listen == "0.0.0.0" || listen == "::" ? kj::StringPtr("127.0.0.1") : listen;
  bool v6 = shown.findFirst(':') != nullptr;
  return kj::str("http://", v6 ? "[" : "", shown, v6 ? "]" : "", ":", actualPort);
}

}  // namespace ss::cli
