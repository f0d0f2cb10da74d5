// Reconnection delays: exponential backoff with full jitter. The n-th
// retry waits a uniformly random time between 0 and
// min(maxMs, baseMs * 2^n), so that many clients cut off at the same
// moment (a server restart) do not come back in lockstep.

/// How a `Backoff` grows.
export interface BackoffOptions {
  /// The ceiling of the first delay, in ms. Default 250.
  baseMs?: number
  /// The largest ceiling, in ms. Default 10,000.
  maxMs?: number
  /// The random source, returning a number in [0, 1). Default Math.random.
  random?: () => number
}

/// A sequence of retry delays. Call `next()` before each retry and
/// `reset()` once a connection has succeeded.
export class Backoff {
  /// The number of delays handed out since the last reset.
  attempt = 0
  private readonly baseMs: number
  private readonly maxMs: number
  private readonly random: () => number

  constructor(options: BackoffOptions = {}) {
    this.baseMs = options.baseMs ?? 250
    this.maxMs = options.maxMs ?? 10000
    this.random = options.random ?? Math.random
    if (!(this.baseMs > 0) || !(this.maxMs >= this.baseMs))
      throw new RangeError("Backoff needs 0 < baseMs <= maxMs")
  }

  /// The ceiling for the current attempt, before jitter.
  ceiling(): number {
    // 2^attempt overflows to Infinity long after it passed maxMs, so min is safe.
    return Math.min(this.maxMs, this.baseMs * Math.pow(2, this.attempt))
  }

  /// The delay before the next retry, in ms, and count the attempt.
  next(): number {
    let delay = Math.floor(this.random() * this.ceiling())
    this.attempt++
    return delay
  }

  /// Start over from the first delay.
  reset() {
    this.attempt = 0
  }
}
