/**
 * Seeded, replayable randomness. Everything that needs randomness in the deterministic parts of
 * Flotilla (the Raft core, the simulator, controllers) takes a Random so that a seed replays a run.
 */
import { assert } from './assert.ts'

/** A source of uniformly distributed numbers. */
export interface Random {
  /** A float in [0, 1). */
  float(): number
  /** An integer in [minInclusive, maxExclusive). */
  int(minInclusive: number, maxExclusive: number): number
  /** True with the given probability in [0, 1]. */
  chance(probability: number): boolean
}

/**
 * Xoshiro128** seeded through SplitMix32: fast, 32-bit state words that stay within JavaScript's
 * exact integer arithmetic via Math.imul, and a period (2^128 - 1) far beyond any simulation.
 */
export class RandomXoshiro implements Random {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  constructor(seed: number) {
    assert(Number.isSafeInteger(seed), `random seed must be a safe integer, got ${seed}`)
    let state = (seed ^ Math.floor(seed / 0x1_0000_0000)) >>> 0
    const next = (): number => {
      state = (state + 0x9e3779b9) >>> 0
      let z = state
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      return (z ^ (z >>> 16)) >>> 0
    }
    this.s0 = next()
    this.s1 = next()
    this.s2 = next()
    this.s3 = next()
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  uint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0
    const t = (this.s1 << 9) >>> 0
    this.s2 = (this.s2 ^ this.s0) >>> 0
    this.s3 = (this.s3 ^ this.s1) >>> 0
    this.s1 = (this.s1 ^ this.s2) >>> 0
    this.s0 = (this.s0 ^ this.s3) >>> 0
    this.s2 = (this.s2 ^ t) >>> 0
    this.s3 = rotl(this.s3, 11)
    return result
  }

  float(): number {
    return this.uint32() / 0x1_0000_0000
  }

  int(minInclusive: number, maxExclusive: number): number {
    assert(maxExclusive > minInclusive, `empty range [${minInclusive}, ${maxExclusive})`)
    return minInclusive + Math.floor(this.float() * (maxExclusive - minInclusive))
  }

  chance(probability: number): boolean {
    return this.float() < probability
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}

/** Randomness for production: not replayable, seeded from the OS clock and process state. */
export function randomFromEntropy(): RandomXoshiro {
  return new RandomXoshiro(Math.floor(Math.random() * Number.MAX_SAFE_INTEGER))
}
