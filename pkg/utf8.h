// Strict UTF-8 validation for text a package shows to people (titles, versions).
#pragma once

#include <kj/common.h>

namespace ss::pkg {

bool isValidUtf8(kj::ArrayPtr<const kj::byte> text);
// RFC 3629: rejects overlong forms, surrogates, code points above U+10FFFF and truncated
// sequences.

}  // namespace ss::pkg
