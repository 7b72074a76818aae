package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A small Java 21 function for the local sandbox, run by AWS's Java runtime
 * interface client: the same event contract as the Node demo function
 * (style, fail, logLines/lineBytes), logging with System.out and the
 * context's logger, including non-ASCII text, and from a shutdown hook on
 * SIGTERM.
 */
public class Handler implements RequestHandler<Map<String, Object>, Map<String, Object>> {
  static final String GREETING = "héllo wörld ✓ 日本語 🚀";

  static {
    // Lambda's SIGTERM at SHUTDOWN (with an extension registered): up to 300 ms.
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      System.out.println("SIGTERM received: the function is shutting down");
      System.out.println("SIGTERM handler done — bye ✓");
      System.out.flush();
    }));
  }

  static String fillerLine(int index, int size) {
    String label = "line " + index + " ";
    if (size <= label.length()) return label.substring(0, Math.max(size, 0));
    return label + "x".repeat(size - label.length());
  }

  static int number(Object value, int fallback) {
    return value instanceof Number n ? n.intValue() : fallback;
  }

  @Override
  public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
    Map<String, Object> input = event == null ? Map.of() : event;
    boolean json = "json".equals(input.get("style"));
    if (json) {
      System.out.println("{\"msg\":\"order received\",\"requestId\":\"" + context.getAwsRequestId()
          + "\",\"greeting\":\"" + GREETING + "\"}");
    } else {
      System.out.println("order received — " + GREETING);
    }
    context.getLogger().log("stock level low for TEA-GREEN (3 left)\n");
    int lines = number(input.get("logLines"), 0);
    int bytes = number(input.get("lineBytes"), 100);
    for (int index = 0; index < lines; index++) System.out.println(fillerLine(index, bytes));
    if (Boolean.TRUE.equals(input.get("fail"))) {
      System.err.println("payment declined for this order");
      throw new IllegalStateException("payment declined (demo failure requested by the event)");
    }
    System.out.println("order priced: total 21.0 EUR ✓");
    Map<String, Object> result = new LinkedHashMap<>();
    result.put("ok", true);
    result.put("total", 21.0);
    result.put("currency", "EUR");
    result.put("runtime", "java");
    return result;
  }
}
