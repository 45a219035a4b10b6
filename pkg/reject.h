// A package that fails a check is "rejected": one exception whose description is a sentence a
// person can act on, naming the package file, the entry inside it (if any) and the problem, e.g.
//   app.spk: usr/lib/../x: name ".." is not allowed
// Rejections are KJ exceptions of type FAILED, so they travel through the same paths as any other
// error; isRejection() tells them apart from bugs and I/O failures.
#pragma once

#include <kj/exception.h>
#include <kj/string.h>

namespace ss::pkg {

[[noreturn]] void reject(kj::StringPtr package, kj::StringPtr entry, kj::StringPtr problem);
// Throws "<package>: <entry>: <problem>" (or "<package>: <problem>" when entry is empty).

bool isRejection(const kj::Exception& e);

}  // namespace ss::pkg
