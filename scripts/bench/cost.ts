/**
 * What Kinesis Data Streams bills for a set of records: provisioned mode
 * charges PUT payload units (each record rounded up to 25 KB), on-demand
 * mode charges data written with each record rounded up to 1 KB. A record's
 * size is its data plus its partition key.
 *
 * @module
 */

/** Size of one PUT payload unit in bytes (25 KB). */
export const PUT_PAYLOAD_UNIT_BYTES = 25 * 1024;
/** On-demand billing granularity per record in bytes (1 KB). */
export const ON_DEMAND_UNIT_BYTES = 1024;

/** One record as Kinesis stored it, reduced to what billing looks at. */
export interface BilledRecord {
  /** Payload bytes. */
  dataBytes: number;
  /** UTF-8 bytes of the partition key. */
  partitionKeyBytes: number;
}

/** The bill of a set of records. */
export interface KinesisCost {
  /** Records written. */
  records: number;
  /** Data plus partition key bytes. */
  bytes: number;
  /** Provisioned-mode PUT payload units. */
  putPayloadUnits: number;
  /** On-demand billed kilobytes (each record rounded up to 1 KB). */
  onDemandBilledKB: number;
}

/** PUT payload units of one record: every started 25 KB counts. */
export function putPayloadUnits(recordBytes: number): number {
  return Math.max(1, Math.ceil(recordBytes / PUT_PAYLOAD_UNIT_BYTES));
}

/** On-demand billed KB of one record: every started KB counts. */
export function onDemandBilledKB(recordBytes: number): number {
  return Math.max(1, Math.ceil(recordBytes / ON_DEMAND_UNIT_BYTES));
}

/** Adds up the bill of `records`. */
export function costOf(records: Iterable<BilledRecord>): KinesisCost {
  const cost: KinesisCost = {
    records: 0,
    bytes: 0,
    putPayloadUnits: 0,
    onDemandBilledKB: 0,
  };
  for (const record of records) {
    const size = record.dataBytes + record.partitionKeyBytes;
    cost.records++;
    cost.bytes += size;
    cost.putPayloadUnits += putPayloadUnits(size);
    cost.onDemandBilledKB += onDemandBilledKB(size);
  }
  return cost;
}

/** A bill scaled to `per` events (e.g. per 10,000), given the events it carried. */
export function scaleCost(
  cost: KinesisCost,
  events: number,
  per: number,
): KinesisCost {
  if (events <= 0) throw new RangeError("events must be positive");
  const factor = per / events;
  return {
    records: cost.records * factor,
    bytes: cost.bytes * factor,
    putPayloadUnits: cost.putPayloadUnits * factor,
    onDemandBilledKB: cost.onDemandBilledKB * factor,
  };
}
