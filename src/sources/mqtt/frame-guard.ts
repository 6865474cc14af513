// A transport-level packet size limit. mqtt-packet (aedes' parser) buffers a packet of
// any announced size, up to 256 MiB, before aedes sees it, so a check in authorizePublish
// would come after the memory is spent. This reads only the fixed headers as the bytes
// stream past (MQTT 3.1.1 §2.2) and skips the bodies, so it costs a few operations per packet.

export class FrameGuard {
  /** Body bytes of the current packet still to skip. */
  private skip = 0;
  /** Reading a remaining-length varint (after the packet's first byte). */
  private inLength = false;
  private value = 0;
  private shift = 0;

  constructor(private readonly maxPacketBytes: number) {}

  /** Feeds the next chunk; false as soon as a packet announces more than the limit (or a broken length). */
  check(chunk: Uint8Array): boolean {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.skip > 0) {
        const step = Math.min(this.skip, n - i);
        this.skip -= step;
        i += step;
        continue;
      }
      if (!this.inLength) {
        // The control byte: type and flags.
        this.inLength = true;
        this.value = 0;
        this.shift = 0;
        i++;
        continue;
      }
      const byte = chunk[i++]!;
      this.value += (byte & 0x7f) * 2 ** this.shift;
      this.shift += 7;
      if ((byte & 0x80) !== 0) {
        // At most four length bytes [MQTT-2.2.3].
        if (this.shift >= 28) return false;
        continue;
      }
      this.inLength = false;
      if (1 + this.shift / 7 + this.value > this.maxPacketBytes) return false;
      this.skip = this.value;
    }
    return true;
  }
}
