// Drives a hiredis asynchronous context (redisAsyncContext, hiredis 0.14 API) from a
// Boost.Asio io_context, so that Redis I/O runs on a worker's event loop instead of
// blocking it.
//
// hiredis's async API does no I/O by itself: it asks an event library, through the hooks
// in redisAsyncContext::ev, to watch its socket (addRead/delRead/addWrite/delWrite), and
// expects redisAsyncHandleRead/Write to be called when the socket is ready; `cleanup` says
// the context is being freed. attachToIoContext installs those hooks. The socket is watched
// with posix::stream_descriptor::async_wait(wait_read / wait_write), which reports
// readiness and leaves reading and writing to hiredis.
//
// Ownership: hiredis owns the file descriptor and closes it in redisFree; the descriptor
// object only borrows it and is release()d, never closed, at cleanup. A wait handler that
// was already queued when the context went away still runs later: it finds the watcher
// detached and does nothing (the watcher lives until its last handler has run).
//
// Threads: everything happens on the io_context's thread. The hooks are idempotent, as
// hiredis requires; the async_wait calls rely on Asio re-arming readiness for every new
// wait (it does: a wait on an already readable socket completes at once).
#pragma once

struct redisAsyncContext;  // hiredis

namespace boost::asio {
class io_context;
}

namespace portico::proxy::redis {

// Installs the event hooks of `context` on `io`. Call it right after redisAsyncConnect and
// before redisAsyncSetConnectCallback (which already asks for write readiness). False when
// `context` already has hooks or its descriptor cannot be watched; hiredis then has no way
// to make progress and the caller should redisAsyncFree it.
bool attachToIoContext(redisAsyncContext* context, boost::asio::io_context& io);

}  // namespace portico::proxy::redis
