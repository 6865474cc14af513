// Sends the outbox to the upstream broker: its durable rows in id order, QoS 1, up to the
// link's window at once; a row goes once the broker acknowledged it (PUBACK), the deletes
// of one turn in one transaction. On every new connection it starts again from the oldest
// row left, so what was in flight when a connection dropped is sent again (at least once,
// in order). Runs never wait for any of this: the engine only appends.
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { OutboxRow, OutboxStore } from '../../store/outbox.js';
import type { Link } from './connection.js';
import type { UpstreamTopics } from './topics.js';

/** A PUBLISH's bytes besides its topic and payload, at most (fixed header, lengths, packet id, properties). */
const PUBLISH_OVERHEAD = 16;

export class OutboxPublisher {
  /** Run events the broker acknowledged (sopgate_upstream_sent_total). */
  sent = 0;
  /** Run events the broker refused (a PUBACK reason code, e.g. its ACL): dropped, as it would refuse them again. */
  refused = 0;
  private link: Link | null = null;
  /** The last row handed to the current link. */
  private cursor = 0;
  private inflight = 0;
  /** Rows acknowledged, not yet deleted (a delete the database refuses is tried again later). */
  private readonly done = new Set<number>();
  private deleting = false;
  private readonly stopWaking: () => void;

  constructor(
    private readonly outbox: OutboxStore,
    private readonly topics: UpstreamTopics,
    private readonly log: Logger,
  ) {
    this.stopWaking = outbox.onDurable(() => this.pump());
  }

  /** A connection came up: everything not acknowledged goes again, oldest first. */
  attach(link: Link): void {
    this.link = link;
    this.cursor = 0;
    this.inflight = 0;
    this.pump();
  }

  detach(): void {
    this.link = null;
  }

  stop(): void {
    this.link = null;
    this.stopWaking();
    this.deleteDone();
  }

  private pump(): void {
    const link = this.link;
    if (link === null) return;
    while (this.inflight < link.window) {
      const rows = this.outbox.next(this.cursor, link.window - this.inflight);
      if (rows.length === 0) return;
      for (const row of rows) {
        this.cursor = row.id;
        if (this.done.has(row.id)) continue;
        const topic = this.topics.full(row.topic);
        const bytes = Buffer.byteLength(topic) + Buffer.byteLength(row.payload) + PUBLISH_OVERHEAD;
        // The broker would close the connection for it, and again after every reconnect.
        if (link.maxPacketBytes !== undefined && bytes > link.maxPacketBytes) {
          this.drop(row, `${bytes} bytes, over the broker's maximum packet size of ${link.maxPacketBytes}`);
          continue;
        }
        this.inflight++;
        link.publish(topic, row.payload, (err) => this.acknowledged(link, row, err));
      }
    }
  }

  private acknowledged(link: Link, row: OutboxRow, err: Error | undefined): void {
    // A dropped connection's rows are sent again on the next one.
    if (link !== this.link) return;
    this.inflight--;
    if (err === undefined) {
      this.sent++;
      this.finished(row);
    } else if (typeof (err as { code?: unknown }).code === 'number') {
      this.drop(row, errorMessage(err));
    }
    // Else not the broker's answer (the client gave up on the message): sent again on the next connection.
    this.pump();
  }

  /** A row the broker refuses, or would: it would again, so it goes rather than hold the rest up. */
  private drop(row: OutboxRow, why: string): void {
    this.refused++;
    this.log.log('warn', `the broker refused run event ${this.topics.full(row.topic)}: ${why}; dropped`);
    this.finished(row);
  }

  private finished(row: OutboxRow): void {
    this.done.add(row.id);
    if (!this.deleting) {
      this.deleting = true;
      setImmediate(() => {
        this.deleting = false;
        this.deleteDone();
      });
    }
  }

  private deleteDone(): void {
    if (this.done.size === 0) return;
    const ids = [...this.done];
    try {
      this.outbox.remove(ids);
      for (const id of ids) this.done.delete(id);
    } catch (err) {
      // Kept: not sent again by this process, deleted with the next acknowledgement.
      this.log.log('debug', `cannot delete ${ids.length} acknowledged outbox row(s) yet: ${errorMessage(err)}`);
    }
  }
}
