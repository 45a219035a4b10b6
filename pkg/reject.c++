#include "pkg/reject.h"

namespace ss::pkg {

namespace {
// Marks our rejections: KJ keeps the file name of the throw site in the exception.
constexpr char REJECT_FILE[] = "pkg/reject.c++";
}

void reject(kj::StringPtr package, kj::StringPtr entry, kj::StringPtr problem) {
  auto text = entry.size() == 0 ? kj::str(package, ": ", problem)
                                : kj::str(package, ": ", entry, ": ", problem);
  kj::throwFatalException(
      kj::Exception(kj::Exception::Type::FAILED, REJECT_FILE, __LINE__, kj::mv(text)));
}

bool isRejection(const kj::Exception& e) {
  return kj::StringPtr(e.getFile()) == REJECT_FILE;
}

}  // namespace ss::pkg
