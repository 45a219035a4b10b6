#include "cli/errors.h"

namespace ss::cli {

kj::String userMessage(const kj::Exception& e) {
  kj::StringPtr text = e.getDescription();
  if (text.startsWith("expected ")) {
    KJ_IF_MAYBE(semi, text.findFirst(';')) {
      if (*semi + 2 < text.size()) text = text.slice(*semi + 2);
    }
  }
  return kj::str(text);
}

}  // namespace ss::cli
