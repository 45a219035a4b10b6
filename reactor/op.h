// One in-flight io_uring operation, and the contract every op follows.
//
// Lifecycle: prepare (Reactor::prepare* fills an SQE whose user_data points at the op) ->
// submit (batched, at the end of the loop turn) -> CQE -> the op's onComplete(res, flags).
//
// Contract:
//  - An Op is pinned: the kernel's CQE carries its address, so it is neither copyable nor
//    movable. Owners hold ops by value (a connection's recv/send ops) or by kj::Own.
//  - An Op may be destroyed only when nothing is in flight (`!inFlight()`): the kernel may still
//    write into the op's buffers until its last CQE. To stop an op early, call
//    Reactor::cancel(op) and wait for the CQE (res == -ECANCELED, or a real result if the cancel
//    raced with completion). An owner that cannot wait hands the op to Reactor::orphan(), which
//    cancels it and frees it after its last CQE (cancel-by-destruction for promise-style APIs).
//  - A multishot op (accept, recv, poll) stays in flight while CQEs carry IORING_CQE_F_MORE; the
//    CQE without F_MORE is its last, after which the owner must re-arm it if it wants more.
//  - user_data = op address | (generation << 48). The generation is a global submission
//    counter recorded at prepare time; a CQE whose generation does not match its op means the
//    op was freed and its memory reused while in flight. That is a bug: it is logged and the CQE
//    dropped rather than delivered to the wrong owner.
#pragma once

#include <stdint.h>

#include <kj/common.h>

namespace ss::reactor {

class Reactor;

class Op {
public:
  Op() = default;
  virtual ~Op() noexcept(false);
  KJ_DISALLOW_COPY(Op);

  bool inFlight() const { return outstanding != 0; }
  // True from prepare until the last CQE of every submission of this op.

protected:
  virtual void onComplete(int32_t res, uint32_t flags) = 0;
  // Called on the reactor's thread after the CQE was reaped. Must not throw (an exception here
  // would unwind the loop): owners catch and convert to a value. `flags` carries
  // IORING_CQE_F_MORE / F_BUFFER (the buffer id is flags >> IORING_CQE_BUFFER_SHIFT).

private:
  friend class Reactor;
  uint16_t generation = 0;
  uint16_t outstanding = 0;  // submissions whose last CQE has not arrived
  bool orphaned = false;     // owned by the reactor's orphan list; no more callbacks
};

// An Op that calls a member function of its owner: `OpTo<Conn, &Conn::onRecv> recv{*this};`
// No allocation, no std::function on the hot path.
template <typename Owner, void (Owner::*method)(int32_t res, uint32_t flags)>
class OpTo final: public Op {
public:
  explicit OpTo(Owner& owner): owner(owner) {}

protected:
  void onComplete(int32_t res, uint32_t flags) override { (owner.*method)(res, flags); }

private:
  Owner& owner;
};

}  // namespace ss::reactor
