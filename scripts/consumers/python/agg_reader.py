"""The Python consumer of the conformance check (deno task consumers).

Reads a stream dump (line format: scripts/consumers/dump.ts), hands each
shard's records to aws_kinesis_agg's de-aggregator in the shape a Lambda
consumer gets them (base64 data under "kinesis"), and prints every user
record it yields, then per shard how many records it read and how many user
records it gave.

Usage: python3 -S agg_reader.py DUMP_FILE   (with PYTHONPATH=.tools/python)
"""
import base64
import sys

from aws_kinesis_agg.deaggregator import iter_deaggregate_records


def read_dump(path):
    """Shard id -> list of Lambda-style records, in dump order."""
    shards = {}
    with open(path, encoding="utf-8") as dump:
        for number, line in enumerate(dump, start=1):
            fields = line.rstrip("\n").split(" ")
            if fields == [""]:
                continue
            if fields[0] == "shard" and len(fields) == 5:
                shards[fields[1]] = []
            elif fields[0] == "record" and len(fields) == 6:
                shards[fields[1]].append({
                    "kinesis": {
                        "kinesisSchemaVersion": "1.0",
                        "sequenceNumber": fields[2],
                        "approximateArrivalTimestamp": int(fields[3]) / 1000,
                        "partitionKey": base64.b64decode(fields[4]).decode("utf-8"),
                        "data": fields[5],
                    },
                })
            else:
                raise ValueError("line %d: not a dump line: %r" % (number, line))
    return shards


def main(argv):
    if len(argv) != 2:
        print("usage: agg_reader.py DUMP_FILE", file=sys.stderr)
        return 2
    out = sys.stdout
    for shard_id, records in read_dump(argv[1]).items():
        taken = 0
        for user in iter_deaggregate_records(records):
            kinesis = user["kinesis"]
            data = kinesis["data"]
            if isinstance(data, bytes):
                data = data.decode("ascii")
            sub = kinesis.get("subSequenceNumber")
            ehk = kinesis.get("explicitHashKey")
            out.write(" ".join([
                "user",
                shard_id,
                kinesis["sequenceNumber"],
                "-" if sub is None else str(sub),
                base64.b64encode(kinesis["partitionKey"].encode("utf-8")).decode("ascii"),
                "-" if not ehk else ehk,
                data,
            ]) + "\n")
            taken += 1
        out.write("shard %s records %d taken %d discarded 0\n" % (shard_id, len(records), taken))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
