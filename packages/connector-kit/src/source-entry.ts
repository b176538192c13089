/**
 * What a broker source emits, and how the pipeline tells it that an entry is safe to forget.
 *
 * A broker keeps an entry until it is acknowledged (Redis XACK, a JetStream ack). Connectors
 * acknowledge only when told to, through {@link EntryAcknowledger}: whoever knows that an entry's
 * effect is durable (a checkpoint that covers it, or a sink that wrote what came of it) passes
 * the entry's id back. Until then the entry stays pending on the broker, and if this host dies
 * another host's source receives it again.
 */

/** One entry read from a broker: its broker id (carry it to where you acknowledge) and its value. */
export interface SourceEntry<T> {
  /** The broker's id of the entry: a Redis stream id (`1700000000000-0`), a JetStream sequence. */
  readonly id: string;
  readonly value: T;
  /** True when the broker had delivered this entry before (another host died holding it, or this host restarted). */
  readonly redelivered: boolean;
}

/** The acknowledgement side of a broker source. */
export interface EntryAcknowledger {
  /**
   * The entries with these ids are covered (by a completed checkpoint, or a sink wrote them):
   * acknowledge them on the broker. Ids this process does not hold (already acknowledged, or
   * read by another host) are ignored. Resolves once the broker confirmed.
   */
  acknowledge(ids: readonly string[]): Promise<void>;
}
