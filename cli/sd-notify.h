// systemd's readiness protocol without libsystemd: a datagram to $NOTIFY_SOCKET (a path, or an
// abstract socket when it starts with '@'). With Type=notify, systemd considers the service
// started only at READY=1, so `systemctl start` returns once the listeners accept connections.
#pragma once

#include <kj/common.h>
#include <kj/string.h>

#include <stdint.h>

namespace ss::cli {

bool sdNotify(kj::StringPtr state);
// Sends e.g. "READY=1" or "STOPPING=1". Returns false (and does nothing) when $NOTIFY_SOCKET is
// unset; a set but unusable socket is an error (systemd would otherwise wait for its timeout).

kj::Maybe<uint64_t> sdWatchdogUsec();
// $WATCHDOG_USEC when it is meant for this process ($WATCHDOG_PID unset or ours): send
// "WATCHDOG=1" more often than this.

}  // namespace ss::cli
