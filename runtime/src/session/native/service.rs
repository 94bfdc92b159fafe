//! The serving loop of a native session: what it waits for, and in which order it gives up.
//!
//! Input: frames from the untrusted client, the server's shutdown signal, the writer's end. Output:
//! chunks handed to the invocation table, and the [`SessionEnd`] that stops the loop. Decoding is
//! [`decode`](super::decode), where chunks go is [`Invocations`]; this loop only schedules them.

use std::time::Duration;

use enclave_protocol::io::{IdleTimer, Outgoing};
use enclave_protocol::{RequestOpener, SessionErrorCode};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt as _, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::decode::{decode, Inbound};
use super::invocations::{Invocations, Received, Stalled};
use crate::budget::Charge;
use crate::session::context::SessionContext;
use crate::session::end::SessionEnd;
use crate::session::message::next_frame;
use crate::stop::StopReason;

/// Serves invocations until the client closes, breaks the protocol, idles out, stops reading, or the
/// server drains.
pub(super) async fn serve_records(
    ctx: &SessionContext,
    stream: &mut (impl StreamExt<Item = Result<Message, WsError>> + Unpin),
    opener: &mut RequestOpener,
    inv: &mut Invocations,
    out: &mpsc::Sender<Outgoing>,
) -> SessionEnd {
    let limits = ctx.limits.frame;
    let mut shutdown = ctx.shutdown.clone();
    let mut draining = *shutdown.borrow();
    let mut timer = IdleTimer::new(ctx.limits.idle_timeout);
    // Invocations whose input came whole, run in this task.
    let mut local = FuturesUnordered::new();
    // While a chunk waits for its function, no further record is read (that is the backpressure on
    // the client), but everything else here goes on: inline invocations, the writer's end, shutdown.
    let mut stalled: Option<Stalled> = None;
    // The largest frame's bytes, charged to the memory budget before the frame is read (and given
    // back down to the chunk's size once it is); `reclaim` is how long this session may wait for the
    // budget (see `budget`).
    let mut ahead: Option<Charge> = None;
    let mut reclaim = None;
    // Made once, not per turn of the loop: each new wait would register with the signal and
    // deregister again, twice per record.
    let mut stop = ctx.stopped.clone();
    let stop = stop.wait();
    tokio::pin!(stop);
    // Open inputs are checked for stalling a few times per input timeout, on one timer.
    let mut stall_check = tokio::time::interval((ctx.limits.input_timeout / 4).max(Duration::from_millis(10)));
    stall_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if draining && inv.is_idle() {
            return SessionEnd::ShuttingDown;
        }
        let bytes = tokio::select! {
            biased;
            reason = &mut stop => return SessionEnd::Stopped(reason),
            charged = ctx.memory.charge(limits.max_frame_len(), &mut reclaim), if ahead.is_none() && stalled.is_none() => {
                match charged {
                    Ok(c) => ahead = Some(c),
                    Err(reason) => return SessionEnd::Stopped(reason),
                }
                continue;
            }
            r = next_frame(stream), if ahead.is_some() && stalled.is_none() => match r {
                Ok(b) => b,
                Err(end) => return end,
            },
            room = inv.room(&stalled) => {
                if let Some(s) = stalled.take() {
                    inv.deliver(s, room);
                }
                continue;
            }
            // Idle: nothing from the client for the whole period while we wait on it (no invocation
            // running, or one still missing input). A function still computing on a complete input,
            // or one that has not yet taken the last chunk, keeps the session.
            () = timer.expired() => {
                if stalled.is_none() && (inv.awaiting_input() || inv.is_idle()) {
                    return SessionEnd::Refused(SessionErrorCode::IdleTimeout);
                }
                continue;
            }
            Some(()) = local.next(), if !local.is_empty() => continue,
            // The writer has ended (the client stopped reading, or the connection broke): no answer
            // can reach the client any more.
            () = out.closed() => return SessionEnd::Disconnected,
            changed = shutdown.changed(), if !draining => {
                draining = changed.is_err() || *shutdown.borrow();
                continue;
            }
            // Draining: wake as soon as the last running invocation has finished.
            () = inv.all_finished(), if draining => return SessionEnd::ShuttingDown,
            // Only while this loop is reading: a chunk waiting for its function is not the client's delay.
            _ = stall_check.tick(), if stalled.is_none() => {
                if inv.input_stalled(Instant::now(), ctx.limits.input_timeout) {
                    let detail = ctx.limits.input_timeout.as_secs();
                    return SessionEnd::Stopped(StopReason { code: SessionErrorCode::InputStalled, detail });
                }
                continue;
            }
        };
        timer.touch();
        let mut chunk = match decode(&bytes, &limits, opener, &ctx.stats) {
            Ok(Inbound::Close) => return SessionEnd::ClientClosed,
            Ok(Inbound::Chunk(chunk)) => chunk,
            Err(end) => return end,
        };
        drop(bytes);
        // The frame is gone; what stays is the chunk's buffer, which keeps that much of the charge.
        chunk.charge = ahead.take().map(|mut c| {
            c.shrink_to(chunk.data.capacity());
            c
        });
        match inv.receive(chunk, draining, ctx, out) {
            Ok(Received::Inline(run)) => {
                // Polled once here first: most whole inputs are answered in that one poll, and
                // then never need a place among the session's running invocations.
                let mut run = Box::pin(run);
                if (&mut run).now_or_never().is_none() {
                    local.push(run);
                }
            }
            Ok(Received::Delivered) => {}
            Ok(Received::Stalled(s)) => stalled = Some(s),
            Err(end) => return end,
        }
    }
}
