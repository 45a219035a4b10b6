#include "tests/test-support.h"
