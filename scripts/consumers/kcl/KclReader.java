import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.services.kinesis.model.Record;
import software.amazon.kinesis.retrieval.AggregatorUtil;
import software.amazon.kinesis.retrieval.KinesisClientRecord;

/**
 * The KCL consumer of the conformance check (deno task consumers): reads a
 * stream dump (see scripts/consumers/dump.ts for its line format), turns each
 * stored record into a KinesisClientRecord the way KCL's retrieval does, and
 * de-aggregates each shard's records with KCL's own AggregatorUtil and that
 * shard's hash-key range, as KCL's ProcessTask does. Prints every user record
 * KCL hands to a record processor, then per shard how many it took and how
 * many user records it discarded (those in the shard's aggregates that the
 * range check threw away: the full-range count minus the ranged count).
 *
 * Usage: java -cp 'classes:lib/*' KclReader DUMP_FILE
 */
public final class KclReader {
  private static final Base64.Encoder B64 = Base64.getEncoder();
  private static final Base64.Decoder B64D = Base64.getDecoder();

  /** One shard of the dump: its hash-key range and its records in order. */
  private static final class Shard {
    final String id;
    final String startingHashKey;
    final String endingHashKey;
    final List<Record> records = new ArrayList<>();

    Shard(String id, String startingHashKey, String endingHashKey) {
      this.id = id;
      this.startingHashKey = startingHashKey;
      this.endingHashKey = endingHashKey;
    }
  }

  private KclReader() {}

  public static void main(String[] args) throws IOException {
    if (args.length != 1) {
      System.err.println("usage: KclReader DUMP_FILE");
      System.exit(2);
    }
    Map<String, Shard> shards = readDump(Path.of(args[0]));
    AggregatorUtil aggregator = new AggregatorUtil();
    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    for (Shard shard : shards.values()) {
      // Two views of the same records: KCL's ranged de-aggregation (what a
      // record processor gets) and the unranged one (every user record).
      List<KinesisClientRecord> taken =
          aggregator.deaggregate(converted(shard.records), shard.startingHashKey, shard.endingHashKey);
      List<KinesisClientRecord> all = aggregator.deaggregate(converted(shard.records));
      for (KinesisClientRecord record : taken) {
        out.println(String.join(" ",
            "user",
            shard.id,
            record.sequenceNumber(),
            record.aggregated() ? Long.toString(record.subSequenceNumber()) : "-",
            B64.encodeToString(record.partitionKey().getBytes(StandardCharsets.UTF_8)),
            record.explicitHashKey() == null ? "-" : record.explicitHashKey(),
            B64.encodeToString(bytesOf(record.data()))));
      }
      out.println(String.join(" ",
          "shard",
          shard.id,
          "records", Integer.toString(shard.records.size()),
          "taken", Integer.toString(taken.size()),
          "discarded", Integer.toString(all.size() - taken.size())));
    }
    out.flush();
    if (out.checkError()) System.exit(1);
  }

  /** Fresh KinesisClientRecords (de-aggregation consumes their buffers). */
  private static List<KinesisClientRecord> converted(List<Record> records) {
    List<KinesisClientRecord> result = new ArrayList<>(records.size());
    for (Record record : records) result.add(KinesisClientRecord.fromRecord(record));
    return result;
  }

  private static byte[] bytesOf(ByteBuffer buffer) {
    ByteBuffer copy = buffer.duplicate();
    byte[] bytes = new byte[copy.remaining()];
    copy.get(bytes);
    return bytes;
  }

  private static Map<String, Shard> readDump(Path path) throws IOException {
    Map<String, Shard> shards = new LinkedHashMap<>();
    try (BufferedReader reader = Files.newBufferedReader(path, StandardCharsets.UTF_8)) {
      String line;
      int number = 0;
      while ((line = reader.readLine()) != null) {
        number++;
        if (line.isEmpty()) continue;
        String[] fields = line.split(" ");
        if (fields[0].equals("shard") && fields.length == 5) {
          shards.put(fields[1], new Shard(fields[1], fields[2], fields[3]));
        } else if (fields[0].equals("record") && fields.length == 6) {
          Shard shard = shards.get(fields[1]);
          if (shard == null) throw new IOException("line " + number + ": unknown shard " + fields[1]);
          shard.records.add(Record.builder()
              .sequenceNumber(fields[2])
              .approximateArrivalTimestamp(Instant.ofEpochMilli(Long.parseLong(fields[3])))
              .partitionKey(new String(B64D.decode(fields[4]), StandardCharsets.UTF_8))
              .data(SdkBytes.fromByteArray(B64D.decode(fields[5])))
              .build());
        } else {
          throw new IOException("line " + number + ": not a dump line: " + line);
        }
      }
    }
    return shards;
  }
}
