/**
 * A fixed-size log-linear histogram of non-negative integers (microseconds):
 * exact below 128, then 64 sub-buckets per power of two (under 1.6 % error).
 * Recording is O(1) and allocation-free, so it can take every delivery.
 *
 * @module
 */

const LINEAR = 128;
const SUB = 64;
const MAX_SHIFT = 26; // values up to 2^32 µs (over an hour) keep their own bucket
const SIZE = LINEAR + MAX_SHIFT * SUB;

export class Histogram {
  counts = new Float64Array(SIZE);
  total = 0;
  max = 0;

  /** Records one value, clamped to [0, 2^32). */
  record(value) {
    const v = value <= 0 ? 0 : Math.min(Math.floor(value), 0xffff_ffff);
    this.counts[bucketOf(v)]++;
    this.total++;
    if (v > this.max) this.max = v;
  }

  /** The value at quantile `q` (0..1), as the midpoint of its bucket; 0 when empty. */
  quantile(q) {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(midpointOf(i), this.max);
    }
    return this.max;
  }
}

function bucketOf(v) {
  if (v < LINEAR) return v;
  const shift = 31 - Math.clz32(v) - 6; // v >>> shift lands in [64, 128)
  return LINEAR + (shift - 1) * SUB + ((v >>> shift) - SUB);
}

function midpointOf(index) {
  if (index < LINEAR) return index;
  const shift = Math.floor((index - LINEAR) / SUB) + 1;
  const top = ((index - LINEAR) % SUB) + SUB;
  return top * 2 ** shift + 2 ** (shift - 1);
}
