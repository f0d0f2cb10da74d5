import {test} from "node:test"
import assert from "node:assert/strict"
import {Backoff} from "../src/backoff.js"

test("ceilings double from baseMs up to maxMs", () => {
  let b = new Backoff({baseMs: 100, maxMs: 1000, random: () => 0.999999})
  let delays = Array.from({length: 7}, () => b.next())
  assert.deepEqual(delays, [99, 199, 399, 799, 999, 999, 999])
})

test("full jitter: delays are uniform between 0 and the ceiling", () => {
  let values = [0, 0.5, 0.25]
  let b = new Backoff({baseMs: 200, maxMs: 5000, random: () => values.shift()!})
  assert.equal(b.next(), 0)
  assert.equal(b.next(), 200)
  assert.equal(b.next(), 200)
  let real = new Backoff({baseMs: 50, maxMs: 400})
  for (let i = 0; i < 200; i++) {
    let ceiling = real.ceiling(), d = real.next()
    assert.ok(d >= 0 && d < ceiling, `${d} in [0, ${ceiling})`)
  }
})

test("reset starts over", () => {
  let b = new Backoff({baseMs: 10, maxMs: 1000, random: () => 0.5})
  b.next(); b.next(); b.next()
  assert.equal(b.ceiling(), 80)
  b.reset()
  assert.equal(b.attempt, 0)
  assert.equal(b.next(), 5)
})

test("huge attempt counts stay at maxMs", () => {
  let b = new Backoff({baseMs: 10, maxMs: 1000, random: () => 0.5})
  b.attempt = 5000
  assert.equal(b.ceiling(), 1000)
})

test("bad options throw", () => {
  assert.throws(() => new Backoff({baseMs: 0}), RangeError)
  assert.throws(() => new Backoff({baseMs: 100, maxMs: 10}), RangeError)
})
