# Every library comes from a Debian 12 package; scripts/install-deps.sh installs them.
find_package(PkgConfig REQUIRED)
find_package(CapnProto 0.9 REQUIRED)          # capnproto, libcapnp-dev: KJ + Cap'n Proto
pkg_check_modules(URING REQUIRED IMPORTED_TARGET liburing>=2.3)
pkg_check_modules(SQLITE REQUIRED IMPORTED_TARGET sqlite3)
find_package(Catch2 2 REQUIRED)               # catch2 (Debian 12 ships 2.13)
find_package(Threads REQUIRED)

# liburing 2.3 lacks some helpers the kernel supports; probe what the header defines so the
# reactor can use raw opcodes instead of guessing from versions.
include(CheckSymbolExists)
set(CMAKE_REQUIRED_INCLUDES /usr/include)
check_symbol_exists(IORING_SETUP_DEFER_TASKRUN "liburing.h" HAVE_IORING_SETUP_DEFER_TASKRUN)
check_symbol_exists(io_uring_setup_buf_ring "liburing.h" HAVE_IO_URING_SETUP_BUF_RING)
configure_file(${PROJECT_SOURCE_DIR}/cmake/config.h.in ${PROJECT_BINARY_DIR}/config.h)
