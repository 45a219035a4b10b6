// How the CLI turns a failure into one line a person can act on.
#pragma once

#include <kj/exception.h>
#include <kj/main.h>
#include <kj/string.h>

namespace ss::cli {

kj::String userMessage(const kj::Exception& e);
// KJ descriptions read "expected <condition>; <message>; name = value". A person needs the
// message and the values, not our source's condition.

template <typename Command>
kj::MainFunc keepAlive(kj::Own<Command> command) {
  // A MainFunc's callbacks point into the command object: keep the object alive alongside.
  auto main = command->getMain();
  return [command = kj::mv(command), main = kj::mv(main)](
             kj::StringPtr name, kj::ArrayPtr<const kj::StringPtr> args) mutable {
    main(name, args);
  };
}

}  // namespace ss::cli
