/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum zlib, gzip and PNG use.
 *
 * Used to detect damaged records on disk. It is not a cryptographic hash: it catches accidental
 * corruption (bit flips, torn or misplaced writes), not deliberate tampering.
 */

const POLYNOMIAL_REFLECTED = 0xedb88320

/** One precomputed remainder per byte value, so the loop handles a byte per table lookup. */
const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256)
  for (let byte = 0; byte < 256; byte++) {
    let remainder = byte
    for (let bit = 0; bit < 8; bit++) {
      remainder = remainder & 1 ? (remainder >>> 1) ^ POLYNOMIAL_REFLECTED : remainder >>> 1
    }
    table[byte] = remainder >>> 0
  }
  return table
})()

/**
 * The CRC-32 of `bytes`, as an unsigned 32-bit integer. Pass the result of a previous call as
 * `previousCrc` to continue a checksum over data that arrives in pieces:
 * `crc32(b, crc32(a))` equals `crc32(a ++ b)`.
 */
export function crc32(bytes: Uint8Array, previousCrc = 0): number {
  let crc = ~previousCrc >>> 0
  for (let position = 0; position < bytes.length; position++) {
    crc = TABLE[(crc ^ bytes[position]!) & 0xff]! ^ (crc >>> 8)
  }
  return ~crc >>> 0
}
